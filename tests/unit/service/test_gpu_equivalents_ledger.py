"""The GPU ledger in GPU-equivalents, on a real SQLite database with the service's
migrations: quarter shares fill a course's cap four to a GPU, hours are charged by share,
and migration 0007 leaves sessions recorded before it on their whole GPUs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from factories import course

from coursehub.catalog.model import Course
from coursehub.service import gpu_ledger
from coursehub.service.db import Database, alembic_config

NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
STUDENTS = [f"s{n}" for n in range(6)]


def shared_course() -> Course:
    return course(
        "share-101",
        title="Shared",
        students=STUDENTS,
        environments=[
            {
                "slug": "quarter",
                "display_name": "quarter",
                "image": "img",
                "gpu": {"count": 1, "resource": "nvidia.com/gpu.shared", "share": 0.25},
            },
            {"slug": "whole", "display_name": "whole", "image": "img", "gpu": {"count": 1}},
        ],
        gpu_policy={"max_concurrent_gpus": 1},
    )


def test_a_cap_of_one_gpu_admits_four_quarter_shares_and_charges_them_by_share(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'service.sqlite'}")
    db.upgrade()
    course = shared_course()
    quarter, whole = course.environment("quarter"), course.environment("whole")

    def admit(environment, username):
        def work(session):
            gpu_ledger.ensure_course_lock(session, course.id)
            return gpu_ledger.admit_session(
                session, course, environment, username, "", "student", NOW
            )

        return db.run_sync(work).decision

    decisions = [admit(quarter, name) for name in STUDENTS[:5]]
    assert [d.admitted for d in decisions] == [True, True, True, True, False]
    assert "allows 1 GPU at once" in decisions[4].message
    assert db.run_sync(lambda s: gpu_ledger.gpus_held(s, course.id)) == 1.0

    # One share stops: a quarter is free, which is not room for a whole GPU.
    db.run_sync(lambda s: gpu_ledger.close(s, "s0", "", "stopped", NOW))
    assert not admit(whole, "s5").admitted
    assert admit(quarter, "s5").admitted

    # s1's quarter share runs for two hours: half a GPU-hour.
    db.run_sync(lambda s: gpu_ledger.mark_started(s, "s1", "", NOW))
    later = NOW + timedelta(hours=2)
    assert db.run_sync(lambda s: gpu_ledger.used_hours(s, "s1", course.id, later)) == 0.5
    db.close()


def test_migration_0007_keeps_earlier_sessions_on_their_whole_gpus(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'service.sqlite'}")
    config = alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
    columns = "username, server_name, course, environment, resource, gpus, role, admitted_at"
    with db.engine.begin() as connection:
        connection.execute(
            sa.text(
                f"INSERT INTO gpu_sessions ({columns}) VALUES "
                "('old', '', 'ai-101', 'gpu2', 'nvidia.com/gpu', 2, 'student', :at)"
            ),
            {"at": NOW.isoformat()},
        )
        connection.execute(
            sa.text(
                "INSERT INTO gpu_queue (username, server_name, course, environment, gpus, "
                "enqueued_at) VALUES ('waiting', '', 'ai-101', 'gpu', 1, :at)"
            ),
            {"at": NOW.isoformat()},
        )
    db.upgrade()
    with db.engine.connect() as connection:
        sessions = connection.execute(sa.text("SELECT gpus, gpu_equivalents FROM gpu_sessions"))
        queue = connection.execute(sa.text("SELECT gpus, gpu_equivalents FROM gpu_queue"))
        assert [tuple(row) for row in sessions] == [(2, 2.0)]
        assert [tuple(row) for row in queue] == [(1, 1.0)]
    db.close()
