"""The coursehub service's exchange API against a real hub, on SQLite and on PostgreSQL.

Every call carries a real hub token; every refusal is checked for its status, a message
that says why, and that nothing was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tarfile
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from factories import hub_courses
from hub_platform import HubAPI
from platforms import running_platform
from postgres import running_postgres
from service_calls import ServiceCalls, archive, notebook, unchecked_archive
from sqlalchemy import create_engine, func, select, update

from coursehub.dev import Platform
from coursehub.dev.processes import http_status
from coursehub.service.models import Submission
from coursehub.service.store import BlobStore

pytestmark = pytest.mark.integration

PAST = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
FUTURE = (datetime.now(UTC) + timedelta(days=30)).isoformat(timespec="seconds")
OWN = "only see their own"
USERS = ["instructor1", "instructor2", "student1", "student2", "student3", "student-ml1"]


def service_courses() -> list[dict]:
    ai101, ml201 = hub_courses(students=5)
    ai101["assignments"] = [
        {"name": "ps1", "title": "Problem set 1", "due": FUTURE},
        {"name": "closed", "title": "Already due", "due": PAST},
    ]
    return [ai101, ml201]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def platform(request, tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp(f"service-{request.param}")
    with contextlib.ExitStack() as stack:
        extra = {"COURSEHUB_MAX_FILE_MB": "1", "COURSEHUB_MAX_SUBMISSION_MB": "2"}
        if request.param == "postgresql":
            extra["COURSEHUB_SERVICE_DB_URL"] = stack.enter_context(running_postgres())
        yield stack.enter_context(
            running_platform(
                root,
                artifacts_dir,
                f"service-api-{request.param}",
                *service_courses(),
                extra_hub_env=extra,
            )
        )


@pytest.fixture(scope="module")
async def tokens(platform: Platform) -> dict[str, str]:
    async with aiohttp.ClientSession() as session:
        hub = HubAPI(platform, session)
        return {name: await hub.token_for(name) for name in USERS}


@pytest.fixture(scope="module")
async def calls(platform: Platform) -> AsyncIterator[ServiceCalls]:
    async with aiohttp.ClientSession() as session:
        yield ServiceCalls(session, platform.service_url)


RELEASE = archive({"ps1.ipynb": notebook("# your answer here"), "data/points.csv": b"x,y\n1,2\n"})


@pytest.fixture(scope="module")
async def released(calls: ServiceCalls, tokens) -> dict:
    status, body = await calls.call(
        "PUT", "courses/ai-101/assignments/ps1/release", tokens["instructor1"], RELEASE
    )
    assert status == 201, body
    status, _ = await calls.call(
        "PUT", "courses/ai-101/assignments/closed/release", tokens["instructor1"], RELEASE
    )
    assert status == 201
    return body


async def test_release_is_listed_and_fetched_by_enrolled_students(calls, tokens, released):
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


async def test_submissions_are_versioned_and_timed_by_the_service(calls, tokens, released):
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


async def test_late_submission_is_marked_and_collect_takes_latest(calls, tokens, released):
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


@pytest.mark.parametrize(
    ("caller", "method", "path", "params", "upload", "status", "message"),
    [
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
    ],
)
async def test_refusals_say_why_and_store_nothing(
    calls, tokens, released, caller, method, path, params, upload, status, message
):
    uploads = {
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
    token = {None: None, "forged": "0" * 32}.get(caller, tokens.get(caller))
    before = await stored(calls, tokens)
    got, body = await calls.call(
        method, f"courses/ai-101/assignments/ps1/{path}", token, uploads[upload], params
    )
    assert got == status, body
    assert message in body["message"]
    assert await stored(calls, tokens) == before


async def test_path_traversal_in_names_is_refused(calls, tokens, released):
    status, body = await calls.call(
        "GET", "courses/ai-101/assignments/..%2F..%2Fetc/release", tokens["student1"]
    )
    assert status == 400 and "not allowed" in body["message"]


async def test_fifty_simultaneous_submissions_are_each_stored_once(calls, tokens, released):
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


async def test_service_restart_between_submit_and_collect_loses_nothing(
    platform, calls, tokens, released
):
    status, _ = await calls.submit(
        "ai-101", "ps1", tokens["student3"], archive({"ps1.ipynb": b"before restart"})
    )
    assert status == 201
    before = await stored(calls, tokens)
    platform.restart_hub()  # stops the managed service with the hub, starts both again
    deadline = time.monotonic() + 60
    while http_status(f"{platform.service_url}/api/health") != 200:
        assert time.monotonic() < deadline, "the service did not come back"
        await asyncio.sleep(0.5)
    assert await stored(calls, tokens) == before
    status, collected = await calls.call(
        "POST", "courses/ai-101/assignments/ps1/actions/collect", tokens["instructor1"]
    )
    assert status == 200, collected
    chosen = {row["student"]: row["version"] for row in collected["collected"]}
    assert chosen["student3"] == max(before["student3"])
    status, data = await calls.call(
        "GET",
        f"courses/ai-101/assignments/ps1/submissions/student3/{chosen['student3']}",
        tokens["instructor1"],
    )
    assert status == 200 and data == archive({"ps1.ipynb": b"before restart"})


# ----- collect handles each student apart (security review §7) ----------------------------


def service_db_url(platform: Platform) -> str:
    return platform.config.extra_hub_env.get("COURSEHUB_SERVICE_DB_URL") or (
        f"sqlite:///{platform.state_dir / 'service' / 'coursehub-service.sqlite'}"
    )


def store_as_if_accepted_before_the_fix(
    platform: Platform, course: str, assignment: str, student: str, data: bytes
) -> None:
    """Point the student's latest stored version at ``data``, an archive the service would
    refuse today: what an old deployment may hold from before names were checked."""
    key = BlobStore(platform.state_dir / "service" / "store").put(data)
    engine = create_engine(service_db_url(platform))
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


def coursehub_cli(platform: Platform, token: str, *args: str) -> subprocess.CompletedProcess:
    """The real `coursehub` command, as an instructor runs it against a deployment."""
    return subprocess.run(
        [sys.executable, "-m", "coursehub", *args, "--hub-url", platform.public_url],
        env={**os.environ, "COURSEHUB_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_collect_writes_the_others_and_names_the_student_it_cannot_write(
    platform, calls, tokens, released
):
    assignment = "collectme"
    path = f"courses/ai-101/assignments/{assignment}"
    status, body = await calls.call("PUT", f"{path}/release", tokens["instructor1"], RELEASE)
    assert status == 201, body
    for name in ("student1", "student2", "student3"):
        upload = archive({"ps1.ipynb": notebook(f"{name}'s answer")})
        status, body = await calls.submit("ai-101", assignment, tokens[name], upload)
        assert status == 201, body
    hostile = unchecked_archive({"ps1.ipynb": b"{}", "timestamp.txt/x": b"not a time"})
    store_as_if_accepted_before_the_fix(platform, "ai-101", assignment, "student2", hostile)

    status, body = await calls.call("POST", f"{path}/actions/collect", tokens["instructor1"])
    assert status == 200, body
    assert sorted(row["student"] for row in body["collected"]) == ["student1", "student3"]
    assert [failure["student"] for failure in body["failed"]] == ["student2"], body
    reason = body["failed"][0]["reason"]
    assert "version 1" in reason and "timestamp.txt" in reason, reason
    assert str(platform.state_dir) not in reason  # a plain reason, not the service's paths

    status, report = await calls.call("GET", f"{path}/status", tokens["instructor1"])
    assert status == 200, report
    collected = {row["student"]: row["collected_version"] for row in report["students"]}
    assert (collected["student1"], collected["student2"], collected["student3"]) == (1, None, 1)

    command = ("assignment", "collect", "ai-101", assignment)
    result = await asyncio.to_thread(coursehub_cli, platform, tokens["instructor1"], *command)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "student1" in result.stdout and "student3" in result.stdout
    assert "student2" in result.stdout and "timestamp.txt" in result.stdout
    assert "collected 2 submission(s)" in result.stdout
    assert "1 could not be collected" in result.stdout


# ----- uploads are checked off the event loop, one at a time per user (review §6) -----------


@pytest.fixture(scope="module")
def roomy_platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    """Limits high enough that one upload takes seconds to check."""
    root = tmp_path_factory.mktemp("service-roomy")
    extra = {"COURSEHUB_MAX_FILE_MB": "256", "COURSEHUB_MAX_SUBMISSION_MB": "2048"}
    with running_platform(
        root, artifacts_dir, "service-api-roomy", *service_courses(), extra_hub_env=extra
    ) as running:
        yield running


def slow_to_check(files: int = 8, file_mb: int = 128) -> bytes:
    """About 1 MB of upload that inflates to ``files * file_mb`` MiB of zeros: every byte
    must be inflated and hashed to check it."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    zeros = bytes(1024 * 1024)
    parts = []
    for n in range(files):
        info = tarfile.TarInfo(f"part{n}.bin")
        info.size = file_mb * len(zeros)
        parts.append(compressor.compress(info.tobuf(format=tarfile.GNU_FORMAT)))
        parts.extend(compressor.compress(zeros) for _ in range(file_mb))
    parts.append(compressor.compress(bytes(1024)) + compressor.flush())
    return b"".join(parts)


async def test_a_slow_upload_check_leaves_the_service_answering(roomy_platform):
    async with aiohttp.ClientSession() as session:
        hub = HubAPI(roomy_platform, session)
        student = await hub.token_for("student1")
        other = await hub.token_for("student2")
        teacher = await hub.token_for("instructor1")
        calls = ServiceCalls(session, roomy_platform.service_url)
        status, body = await calls.call(
            "PUT", "courses/ai-101/assignments/ps1/release", teacher, RELEASE
        )
        assert status == 201, body
        status, _ = await calls.call("GET", "me", student)  # the hub has seen the token
        assert status == 200
        upload = slow_to_check()

        finished: dict[str, float] = {}  # when each upload's answer arrived
        started = time.monotonic()
        first = asyncio.create_task(calls.submit("ai-101", "ps1", student, upload))
        first.add_done_callback(lambda _: finished.setdefault("first", time.monotonic()))
        second = None
        latencies: list[float] = []  # of cheap requests sent while the upload was pending
        answered_during_check = 0
        while not first.done():
            began = time.monotonic()
            status, me = await calls.call("GET", "me", other)
            assert status == 200, me
            latencies.append(time.monotonic() - began)
            answered_during_check += not first.done()
            if second is None and time.monotonic() - started > 0.3 and not first.done():
                # The same student again, while the first upload is being checked.
                small = archive({"ps1.ipynb": b"{}"})
                second = asyncio.create_task(calls.submit("ai-101", "ps1", student, small))
                second.add_done_callback(lambda _: finished.setdefault("second", time.monotonic()))
            await asyncio.sleep(0.02)
        status, body = await first
        took = finished["first"] - started
        refused = await second if second is not None else None

    assert status == 201 and body["size"] == 8 * 128 * 1024 * 1024, body
    assert took > 1.0, f"the upload took only {took:.2f} s: too quick to show anything"
    assert max(latencies) < 0.5, [round(latency, 3) for latency in latencies]
    assert answered_during_check >= 5, latencies
    assert refused is not None and refused[0] == 429, refused
    assert "already uploading" in refused[1]["message"], refused
    assert finished["second"] < finished["first"]  # refused at once, not queued behind it
