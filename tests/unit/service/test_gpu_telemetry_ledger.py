"""GPU telemetry in the ledger, on a real SQLite database with the service's migrations:
used GPU-hours grow only while the GPU is busy, a kernel executing keeps a session from
being idle without counting as GPU use, an idle warning is withdrawn when the GPU is used
again, and only a server's own token may report for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from coursehub.catalog.model import Course
from coursehub.service import gpu_ledger, gpu_usage
from coursehub.service.db import Database, alembic_config
from coursehub.service.rules import Caller, Refusal, require_own_server

NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
IDLE = gpu_ledger.Telemetry(2.0, 1 << 30, 16 << 30, kernel_busy=False)
BUSY = gpu_ledger.Telemetry(85.0, 9 << 30, 16 << 30, kernel_busy=False)
KERNEL = gpu_ledger.Telemetry(0.0, 1 << 30, 16 << 30, kernel_busy=True)


def course() -> Course:
    return Course.model_validate(
        {
            "id": "tele-101",
            "title": "Telemetry",
            "term": "t",
            "students": ["ada"],
            "environments": [
                {
                    "slug": "quarter",
                    "display_name": "quarter",
                    "image": "img",
                    "gpu": {"count": 1, "resource": "nvidia.com/gpu.shared", "share": 0.25},
                }
            ],
            "gpu_policy": {"gpu_hours_per_student_per_week": 2, "gpu_idle_timeout_minutes": 30},
        }
    )


class OneCourse:
    def __init__(self, course: Course):
        self.courses = {course.id: course}


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'service.sqlite'}")
    database.upgrade()
    yield database
    database.close()


def start(db: Database, the_course: Course) -> None:
    def work(session):
        gpu_ledger.ensure_course_lock(session, the_course.id)
        gpu_ledger.admit_session(
            session, the_course, the_course.environment("quarter"), "ada", "", "student", NOW
        )
        gpu_ledger.mark_started(session, "ada", "", NOW)

    db.run_sync(work)


def report(db, the_course, telemetry, at, server=""):
    catalog = OneCourse(the_course)
    return db.run_sync(
        lambda s: gpu_usage.record_telemetry(s, catalog, "ada", server, telemetry, at)
    )


def session(db) -> dict:
    (row,) = db.run_sync(lambda s: gpu_usage.session_list(s, None, False, NOW + 10 * MINUTE))
    return row


def test_used_hours_grow_only_while_the_gpu_is_busy(db):
    the_course = course()
    start(db, the_course)
    assert report(db, the_course, IDLE, NOW + MINUTE)["busy"] is False
    answer = report(db, the_course, BUSY, NOW + 4 * MINUTE)  # busy for these 3 minutes
    assert answer["busy"] is True
    assert answer["used_gpu_hours"] == pytest.approx(0.25 * 3 / 60, abs=1e-4)
    report(db, the_course, IDLE, NOW + 10 * MINUTE)
    row = session(db)
    assert row["used_gpu_hours"] == pytest.approx(0.25 * 3 / 60, abs=1e-4)
    assert row["gpu_hours"] == pytest.approx(0.25 * 10 / 60, abs=1e-4)  # held the whole time
    assert row["last_gpu_busy_at"] == (NOW + 4 * MINUTE).isoformat()
    assert row["gpu_utilization"] == 2.0 and row["gpu_memory_total_bytes"] == 16 << 30
    # The status bar's hours left: 2 GPU-hours less what was held so far.
    assert answer["hours_left"] == pytest.approx(2 - 0.25 * 4 / 60, abs=1e-4)


def test_a_kernel_executing_keeps_the_session_from_idling_but_is_not_gpu_use(db):
    the_course = course()
    start(db, the_course)
    assert report(db, the_course, KERNEL, NOW + 5 * MINUTE)["busy"] is True
    row = session(db)
    assert row["last_gpu_busy_at"] == (NOW + 5 * MINUTE).isoformat()
    assert row["used_gpu_hours"] == 0


def test_an_idle_warning_is_withdrawn_when_the_gpu_is_used_again(db):
    the_course = course()
    start(db, the_course)

    def warn(s):
        row = gpu_ledger.open_session(s, "ada", "")
        row.notice, row.notice_at, row.notice_reason = "idle!", NOW, "idle"

    db.run_sync(warn)
    report(db, the_course, IDLE, NOW + MINUTE)
    assert db.run_sync(lambda s: gpu_usage.notices(s, "ada"))  # still idle: still warned
    report(db, the_course, BUSY, NOW + 2 * MINUTE)
    assert db.run_sync(lambda s: gpu_usage.notices(s, "ada")) == []


def test_a_report_for_a_server_without_an_open_session_is_none(db):
    the_course = course()
    start(db, the_course)
    assert report(db, the_course, BUSY, NOW + MINUTE, server="other") is None


ADA = Caller(name="ada", kind="user", admin=False)
OWN_SERVER = frozenset({"access:servers!server=ada/", "users:activity!user=ada"})


def test_a_server_reports_only_for_itself():
    require_own_server(ADA, OWN_SERVER, "ada", "")
    require_own_server(ADA, frozenset({"access:servers!user=ada"}), "ada", "gpu")
    with pytest.raises(Refusal, match="ada may not report GPU telemetry for bob's default"):
        require_own_server(ADA, OWN_SERVER, "bob", "")
    # Ada's default server's token, for her named server: not that server's token.
    with pytest.raises(Refusal, match="is not the token of ada's server 'gpu'") as refused:
        require_own_server(ADA, OWN_SERVER, "ada", "gpu")
    assert refused.value.status == 403
    admin = Caller(name="root", kind="user", admin=True)
    with pytest.raises(Refusal, match="root may not report"):
        require_own_server(admin, frozenset({"access:servers"}), "ada", "")
    hub = Caller(name="coursehub-hub", kind="service", admin=False)
    with pytest.raises(Refusal, match="service coursehub-hub may not report"):
        require_own_server(hub, frozenset({"access:servers"}), "coursehub-hub", "")


def test_migration_0008_gives_earlier_sessions_no_use_and_goes_back_down(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'old.sqlite'}")
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")
        connection.execute(
            sa.text(
                "INSERT INTO gpu_sessions (username, server_name, course, environment, "
                "resource, gpus, gpu_equivalents, role, admitted_at) VALUES "
                "('old', '', 'tele-101', 'quarter', 'nvidia.com/gpu.shared', 1, 0.25, "
                "'student', :at)"
            ),
            {"at": NOW.isoformat()},
        )
    database.upgrade()
    with database.engine.connect() as connection:
        row = connection.execute(
            sa.text(
                "SELECT used_gpu_hours, last_gpu_busy_at, last_telemetry_at, notice_reason "
                "FROM gpu_sessions"
            )
        ).one()
        assert tuple(row) == (0.0, None, None, None)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    with database.engine.connect() as connection:
        names = {c["name"] for c in sa.inspect(connection).get_columns("gpu_sessions")}
    assert "used_gpu_hours" not in names and "gpu_equivalents" in names
    database.close()
