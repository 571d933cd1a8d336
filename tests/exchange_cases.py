"""The exchange API's cases, shared by the in-process tests
(``tests/unit/service/test_service_api_inprocess.py``, SQLite, a stub hub auth) and the
end-to-end ones (``tests/integration/test_service_api.py``, a real hub's tokens, PostgreSQL).

Each ``check_*`` coroutine is one case: it takes ``calls`` (``ServiceCalls``), ``tokens``
(username -> hub token of each of ``USERS``) and what the case needs, and asserts.
Cases run in order against one service, as the tests of a module do: later cases see what
earlier ones stored.

- ``service_courses()``: ``factories.hub_courses(5)`` with ai-101's assignments ``ps1`` (due
  in 30 days) and ``closed`` (due yesterday).
- ``release(calls, tokens)``: instructor1 releases ``ps1`` and ``closed``; the release's
  answer (the ``released`` fixture of both modules).
- ``REFUSALS``: ``(caller, method, path, params, upload, status, message)`` rows for
  ``check_refusal``: each request is refused with that status and words, and nothing is
  stored.
- ``stored(calls, tokens)``: every ai-101/ps1 version per student, as staff see them.
- ``store_as_if_accepted_before_the_fix(store, db_url, course, assignment, student, data)``:
  point a student's latest version at an archive the service would refuse today.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from factories import hub_courses
from service_calls import ServiceCalls, archive, notebook, unchecked_archive
from sqlalchemy import create_engine, func, select, update

from coursehub.service.models import Submission
from coursehub.service.store import BlobStore

PAST = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
FUTURE = (datetime.now(UTC) + timedelta(days=30)).isoformat(timespec="seconds")
OWN = "only see their own"
USERS = ["instructor1", "instructor2", "student1", "student2", "student3", "student-ml1"]
RELEASE = archive({"ps1.ipynb": notebook("# your answer here"), "data/points.csv": b"x,y\n1,2\n"})


def service_courses() -> list[dict]:
    ai101, ml201 = hub_courses(students=5)
    ai101["assignments"] = [
        {"name": "ps1", "title": "Problem set 1", "due": FUTURE},
        {"name": "closed", "title": "Already due", "due": PAST},
    ]
    return [ai101, ml201]


async def release(calls: ServiceCalls, tokens: dict[str, str]) -> dict:
    status, body = await calls.call(
        "PUT", "courses/ai-101/assignments/ps1/release", tokens["instructor1"], RELEASE
    )
    assert status == 201, body
    status, _ = await calls.call(
        "PUT", "courses/ai-101/assignments/closed/release", tokens["instructor1"], RELEASE
    )
    assert status == 201
    return body


async def check_release_is_listed_and_fetched_by_enrolled_students(calls, tokens, released):
    assert released["files"] == 2 and released["due"].startswith(FUTURE[:16])
    status, again = await calls.call(
        "PUT", "courses/ai-101/assignments/ps1/release", tokens["instructor1"], RELEASE
    )
    assert status == 200 and again["checksum"] == released["checksum"]  # same content: no-op

    status, listing = await calls.call("GET", "courses/ai-101/assignments", tokens["student1"])
    assert status == 200 and listing["role"] == "student"
    assert [item["name"] for item in listing["assignments"]] == ["closed", "ps1"]

    status, data = await calls.call(
        "GET", "courses/ai-101/assignments/ps1/release", tokens["student1"]
    )
    assert status == 200 and data == RELEASE

    status, body = await calls.call(
        "GET", "courses/ai-101/assignments/ps1/release", tokens["student-ml1"]
    )
    assert status == 403 and "student-ml1 is not a member of ai-101" in body["message"]


async def check_submissions_are_versioned_and_timed_by_the_service(calls, tokens):
    before = datetime.now(UTC)
    first = await calls.submit("ai-101", "ps1", tokens["student1"], archive({"ps1.ipynb": b"1"}))
    second = await calls.submit("ai-101", "ps1", tokens["student1"], archive({"ps1.ipynb": b"2"}))
    assert first[0] == 201 and second[0] == 201, (first, second)
    assert (first[1]["version"], second[1]["version"]) == (1, 2)
    assert first[1]["student"] == "student1" and first[1]["late"] is False
    stamped = datetime.fromisoformat(second[1]["submitted_at"])
    assert before - timedelta(seconds=5) <= stamped <= datetime.now(UTC) + timedelta(seconds=5)

    status, data = await calls.call(
        "GET", "courses/ai-101/assignments/ps1/submissions/student1/1", tokens["instructor1"]
    )
    assert status == 200 and data == archive({"ps1.ipynb": b"1"})  # v1 is kept as it was


async def check_late_submission_is_marked_and_collect_takes_latest(calls, tokens):
    status, body = await calls.submit(
        "ai-101", "closed", tokens["student2"], archive({"ps1.ipynb": b"late"})
    )
    assert status == 201 and body["late"] is True
    status, body = await calls.call(
        "GET",
        "courses/ai-101/assignments/closed/submissions",
        tokens["instructor1"],
        params={"collect": "1"},
    )
    assert status == 200
    assert [(row["student"], row["late"]) for row in body["submissions"]] == [("student2", True)]


async def stored(calls, tokens) -> dict[str, list[int]]:
    """Every ai-101/ps1 version per student, as staff see them."""
    status, body = await calls.call(
        "GET", "courses/ai-101/assignments/ps1/submissions", tokens["instructor1"]
    )
    assert status == 200
    result: dict[str, list[int]] = {}
    for row in body["submissions"]:
        result.setdefault(row["student"], []).append(row["version"])
    return result


REFUSALS = [
    # student2 reaches for student1's work
    ("student2", "GET", "submissions/student1/1", None, None, 403, OWN),
    ("student2", "GET", "submissions", {"student": "student1"}, None, 403, OWN),
    ("student2", "GET", "feedback", {"student": "student1"}, None, 403, OWN),
    ("student2", "GET", "feedback/student1/1", None, None, 403, OWN),
    # submitting as somebody else, or at another time
    ("student2", "POST", "submissions", {"student_id": "student1"}, "ok", 400, "hub token"),
    ("student2", "POST", "submissions", {"timestamp": "2020-01-01"}, "ok", 400, "own clock"),
    # a course the student is not in
    ("student-ml1", "POST", "submissions", None, "ok", 403, "not a student of ai-101"),
    # odd or hostile names and sizes
    ("student2", "POST", "submissions", None, "traversal", 400, "'..' is refused"),
    ("student2", "POST", "submissions", None, "hidden", 400, "must not start with '.'"),
    ("student2", "POST", "submissions", None, "big-file", 413, "limit per file is 1 MB"),
    ("student2", "POST", "submissions", None, "big-total", 413, "limit per submission"),
    ("student2", "POST", "submissions", None, "not-tar", 400, "not a gzip'd tar"),
    # names that would break collect for the whole course (security review §7, §14)
    ("student2", "POST", "submissions", None, "stamp-folder", 400, "'timestamp.txt/x'"),
    ("student2", "POST", "submissions", None, "file-then-inside", 400, "'a/b' is inside 'a'"),
    ("student2", "POST", "submissions", None, "inside-then-file", 400, "folder of 'a/b'"),
    ("student2", "POST", "submissions", None, "feedback", 400, "'feedback/ps1.html'"),
    ("student2", "POST", "submissions", None, "newline", 400, "'ps1.ipynb\\n'"),
    # students may not act as staff; staff only on their own course
    ("student2", "PUT", "release", None, "ok", 403, "not staff of ai-101"),
    ("student2", "POST", "actions/collect", None, None, 403, "not staff of ai-101"),
    ("instructor2", "POST", "actions/collect", None, None, 403, "not staff of ai-101"),
    ("instructor2", "GET", "submissions", None, None, 403, "not a member of ai-101"),
    # no token, a made-up token
    (None, "GET", "submissions", None, None, 401, "no hub token"),
    ("forged", "GET", "submissions", None, None, 401, "does not know this token"),
]
REFUSAL_FIELDS = ("caller", "method", "path", "params", "upload", "status", "message")


def refusal_uploads() -> dict[str | None, bytes | None]:
    return {
        "ok": archive({"ps1.ipynb": b"x"}),
        "traversal": unchecked_archive({"../../outside.ipynb": b"x"}),
        "hidden": unchecked_archive({".bashrc": b"x"}),
        "big-file": archive({"ps1.ipynb": b"0" * (1024 * 1024 + 1)}),
        "big-total": archive({f"part{n}.bin": b"0" * (900 * 1024) for n in range(3)}),
        "not-tar": b"just some bytes",
        "stamp-folder": unchecked_archive({"ps1.ipynb": b"x", "timestamp.txt/x": b"x"}),
        "file-then-inside": unchecked_archive({"a": b"x", "a/b": b"x"}),
        "inside-then-file": unchecked_archive({"a/b": b"x", "a": b"x"}),
        "feedback": unchecked_archive({"ps1.ipynb": b"x", "feedback/ps1.html": b"x"}),
        "newline": unchecked_archive({"ps1.ipynb\n": b"x"}),
        None: None,
    }


async def check_refusal(calls, tokens, caller, method, path, params, upload, status, message):
    """One ``REFUSALS`` row: refused with ``status`` and ``message``, nothing stored."""
    token = {None: None, "forged": "0" * 32}.get(caller, tokens.get(caller))
    before = await stored(calls, tokens)
    got, body = await calls.call(
        method, f"courses/ai-101/assignments/ps1/{path}", token, refusal_uploads()[upload], params
    )
    assert got == status, body
    assert message in body["message"]
    assert await stored(calls, tokens) == before


async def check_path_traversal_in_names_is_refused(calls, tokens):
    status, body = await calls.call(
        "GET", "courses/ai-101/assignments/..%2F..%2Fetc/release", tokens["student1"]
    )
    assert status == 400 and "not allowed" in body["message"]


async def check_fifty_simultaneous_submissions_are_each_stored_once(calls, tokens):
    students = ["student1", "student2", "student3"]
    before = await stored(calls, tokens)
    uploads = [(students[n % 3], archive({"ps1.ipynb": f"{n}".encode()})) for n in range(50)]

    async def submit(name: str, data: bytes) -> tuple[int, dict]:
        # One upload per student is checked at a time; the others are told to retry (429).
        while True:
            status, body = await calls.submit("ai-101", "ps1", tokens[name], data)
            if status != 429:
                return status, body
            assert "already uploading" in body["message"], body
            await asyncio.sleep(0.05)

    results = await asyncio.gather(*(submit(name, data) for name, data in uploads))
    assert [status for status, _ in results] == [201] * 50, results
    after = await stored(calls, tokens)
    for name in students:
        added = len([n for n in range(50) if students[n % 3] == name])
        previous = before.get(name, [])
        assert after[name] == list(range(1, len(previous) + added + 1))


def store_as_if_accepted_before_the_fix(
    store: BlobStore, db_url: str, course: str, assignment: str, student: str, data: bytes
) -> None:
    """Point the student's latest stored version at ``data``, an archive the service would
    refuse today: what an old deployment may hold from before names were checked."""
    key = store.put(data)
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            latest = connection.execute(
                select(func.max(Submission.version)).where(
                    Submission.course == course,
                    Submission.assignment == assignment,
                    Submission.student == student,
                )
            ).scalar_one()
            connection.execute(
                update(Submission)
                .where(
                    Submission.course == course,
                    Submission.assignment == assignment,
                    Submission.student == student,
                    Submission.version == latest,
                )
                .values(blob=key)
            )
    finally:
        engine.dispose()


async def check_collect_writes_the_others_and_names_the_student_it_cannot_write(
    calls, tokens, store: BlobStore, db_url: str, private_path: str, assignment: str
) -> None:
    """Three submissions of ``assignment``, student2's made unwritable behind the service's
    back; collect writes the other two and names student2 with a plain reason (no
    ``private_path``, the service's own folders)."""
    path = f"courses/ai-101/assignments/{assignment}"
    status, body = await calls.call("PUT", f"{path}/release", tokens["instructor1"], RELEASE)
    assert status == 201, body
    for name in ("student1", "student2", "student3"):
        upload = archive({"ps1.ipynb": notebook(f"{name}'s answer")})
        status, body = await calls.submit("ai-101", assignment, tokens[name], upload)
        assert status == 201, body
    hostile = unchecked_archive({"ps1.ipynb": b"{}", "timestamp.txt/x": b"not a time"})
    store_as_if_accepted_before_the_fix(store, db_url, "ai-101", assignment, "student2", hostile)

    status, body = await calls.call("POST", f"{path}/actions/collect", tokens["instructor1"])
    assert status == 200, body
    assert sorted(row["student"] for row in body["collected"]) == ["student1", "student3"]
    assert [failure["student"] for failure in body["failed"]] == ["student2"], body
    reason = body["failed"][0]["reason"]
    assert "version 1" in reason and "timestamp.txt" in reason, reason
    assert private_path not in reason  # a plain reason, not the service's paths

    status, report = await calls.call("GET", f"{path}/status", tokens["instructor1"])
    assert status == 200, report
    collected = {row["student"]: row["collected_version"] for row in report["students"]}
    assert (collected["student1"], collected["student2"], collected["student3"]) == (1, None, 1)
