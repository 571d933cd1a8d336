"""Who sees which courses' GPU usage, and what the service reads from its database for a
window (a real SQLite database with the service's migrations)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import course

from coursehub.catalog import Catalog
from coursehub.service.db import Database
from coursehub.service.gpu_usage import courses_in_scope, read_rows, window
from coursehub.service.models import GPURefusal, GPUSession
from coursehub.service.rules import Caller, Refusal

CATALOG = Catalog(
    root=Path("courses"),
    courses={
        "ai-101": course("ai-101", instructors=["teacher"], students=["alice"]),
        "ml-201": course("ml-201", instructors=["teacher", "other"], students=["bob"]),
        "cv-301": course("cv-301", instructors=["other"], students=["alice"]),
    },
)


def user(name: str, admin: bool = False) -> Caller:
    """A caller whose token carries the staff scope (as tokens people make do)."""
    return Caller(name=name, kind="user", admin=admin, staff_scope=True)


def test_admins_see_every_course_and_staff_the_courses_they_teach():
    assert courses_in_scope(CATALOG, user("root", admin=True), None) == [
        "ai-101",
        "cv-301",
        "ml-201",
    ]
    assert courses_in_scope(CATALOG, user("root", admin=True), "cv-301") == ["cv-301"]
    assert courses_in_scope(CATALOG, user("teacher"), None) == ["ai-101", "ml-201"]
    assert courses_in_scope(CATALOG, user("teacher"), "ml-201") == ["ml-201"]
    grader = Caller(name="grader-ai-101", kind="service", admin=False, staff_scope=True)
    assert courses_in_scope(CATALOG, grader, None) == ["ai-101"]


@pytest.mark.parametrize(
    ("caller", "course_id", "status", "words"),
    [
        (user("teacher"), "cv-301", 403, "teacher is not staff of cv-301"),
        (user("alice"), "ai-101", 403, "alice is not staff of ai-101"),
        (user("alice"), None, 403, "alice is neither an admin nor staff of a course"),
        (user("teacher"), "nope", 404, "there is no course 'nope'"),
        # tokens without the staff scope (a notebook server's): told what to use instead
        (Caller("teacher", "user", False), "ai-101", 403, "does not carry custom:coursehub"),
        (Caller("teacher", "user", False), None, 403, "Token page"),
        (Caller("root", "user", False, hub_admin=True), None, 403, "COURSEHUB_TOKEN"),
    ],
)
def test_everyone_else_is_told_why_not(caller, course_id, status, words):
    with pytest.raises(Refusal) as caught:
        courses_in_scope(CATALOG, caller, course_id)
    assert caught.value.status == status and words in caught.value.message


def test_a_bad_date_is_a_400_naming_the_parameter():
    with pytest.raises(Refusal) as caught:
        window("06/01/2025", None, datetime(2025, 1, 8, tzinfo=UTC))
    assert caught.value.status == 400
    assert "'since' must be YYYY-MM-DD" in caught.value.message


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2025, 1, day, hour, tzinfo=UTC)


def gpu_session(name, course_id, admitted, started, stopped, reason=None) -> GPUSession:
    return GPUSession(
        username=name,
        server_name="",
        course=course_id,
        environment="gpu",
        resource="nvidia.com/gpu",
        gpus=1,
        role="student",
        admitted_at=admitted,
        started_at=started,
        stopped_at=stopped,
        stop_reason=reason,
    )


def test_the_reads_keep_only_rows_of_the_courses_that_can_count_in_the_window(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'service.sqlite'}")
    db.upgrade()
    rows = [
        gpu_session("old", "ai-101", at(1), at(1), at(2), "stopped"),  # before
        gpu_session("edge", "ai-101", at(5), at(5), at(6), "idle"),  # ends at `since`
        gpu_session("across", "ai-101", at(5), at(5), at(7), "budget"),
        gpu_session("open", "ai-101", at(4), at(4), None),
        gpu_session("failed", "ai-101", at(7), None, at(7), "start_failed"),
        gpu_session("later", "ai-101", at(9), at(9), None),  # after `until`
        gpu_session("other", "cv-301", at(7), at(7), None),  # another course
    ]
    refusals = [
        GPURefusal(username=name, course=c, environment="gpu", reason="cap", message="m", at=moment)
        for name, c, moment in [
            ("before", "ai-101", at(5, 23)),
            ("inside", "ai-101", at(6)),
            ("last", "ai-101", at(8, 23)),
            ("after", "ai-101", at(9)),
            ("other", "cv-301", at(7)),
        ]
    ]
    db.run_sync(lambda s: s.add_all([*rows, *refusals]))
    try:
        sessions, refused = db.run_sync(lambda s: read_rows(s, ["ai-101"], at(6), at(9)))
    finally:
        db.close()
    # `edge` may be read (the SQL is a superset); the report's own rule leaves it out.
    assert sorted(row.username for row in sessions) == [
        "across",
        "edge",
        "failed",
        "open",
    ]
    assert sorted(row.username for row in refused) == ["inside", "last"]
    (failed,) = [row for row in sessions if row.username == "failed"]
    assert failed.started_at is None and failed.stop_reason == "start_failed"
    assert failed.admitted_at == at(7)
