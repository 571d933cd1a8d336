"""The GPU ledger's SQL on SQLite and a real PostgreSQL: concurrent admissions never pass a
course's cap, and the enforcer's plan closes vanished sessions at their last sighting."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from postgres import running_postgres
from sqlalchemy import select

from coursehub.catalog import Catalog
from coursehub.catalog.model import Course
from coursehub.gpu import ledger
from coursehub.gpu.enforcer import plan
from coursehub.service.db import Database
from coursehub.service.models import GPURefusal, GPUSession

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
STUDENTS = [f"s{n}" for n in range(1, 21)]


def gpu_course(**policy) -> Course:
    return Course.model_validate(
        {
            "id": "ai-101",
            "title": "AI",
            "term": "test",
            "students": STUDENTS,
            "environments": [
                {
                    "slug": "gpu",
                    "display_name": "AI-101 · 1 GPU",
                    "image": "coursehub/notebook-gpu:test",
                    "cpu": {"guarantee": 1, "limit": 2},
                    "memory": {"guarantee": "1Gi", "limit": "2Gi"},
                    "gpu": {"count": 1},
                }
            ],
            "gpu_policy": policy,
        }
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request, tmp_path_factory) -> Iterator[Database]:
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            url = stack.enter_context(running_postgres())
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'service.sqlite'}"
        db = Database(url)
        db.upgrade()
        yield db
        db.close()


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    yield database
    with database.sessions() as session, session.begin():
        for table in (GPUSession, GPURefusal):
            session.query(table).delete()


def test_twenty_concurrent_admissions_pass_a_cap_of_three_exactly_three_times(db):
    course = gpu_course(max_concurrent_gpus=3)
    gpu = course.environment("gpu")
    db.run_sync(lambda session: ledger.ensure_course_lock(session, course.id))
    barrier = threading.Barrier(len(STUDENTS))
    results: dict[str, bool] = {}

    def spawn(name: str) -> None:
        barrier.wait()
        # Each thread is one hub request: its own connection and transaction.
        admission = db.run_sync(
            lambda session: ledger.admit_session(session, course, gpu, name, "", "student", NOW)
        )
        results[name] = admission.decision.admitted

    threads = [threading.Thread(target=spawn, args=(name,)) for name in STUDENTS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(results.values()) == 3, results
    with db.sessions() as session:
        open_rows = session.execute(select(GPUSession)).scalars().all()
        refusals = session.execute(select(GPURefusal)).scalars().all()
    assert sorted(row.username for row in open_rows) == sorted(n for n, ok in results.items() if ok)
    assert len(refusals) == 17 and {row.reason for row in refusals} == {"cap"}


def test_a_second_start_of_one_server_closes_the_stale_session_instead_of_counting_it(db):
    course = gpu_course(max_concurrent_gpus=1)
    gpu = course.environment("gpu")

    def admit(at):
        return db.run_sync(
            lambda s: ledger.admit_session(s, course, gpu, "s1", "", "student", at)
        ).decision.admitted

    assert admit(NOW)
    db.run_sync(lambda s: ledger.mark_started(s, "s1", "", NOW))
    # The hub crashed mid-session and starts the same server again: still within the cap.
    assert admit(NOW + timedelta(hours=1))
    with db.sessions() as session:
        rows = session.execute(select(GPUSession).order_by(GPUSession.id)).scalars().all()
    assert [(r.stop_reason, r.stopped_at) for r in rows] == [("restarted", NOW), (None, None)]


def test_the_enforcer_closes_a_vanished_session_when_it_was_last_seen(db):
    course = gpu_course(gpu_hours_per_student_per_week=10)
    catalog = Catalog(root=Path("."), courses={course.id: course})
    gpu = course.environment("gpu")
    for name in ("s1", "s2"):
        db.run_sync(lambda s, n=name: ledger.admit_session(s, course, gpu, n, "", "student", NOW))
        db.run_sync(lambda s, n=name: ledger.mark_started(s, n, "", NOW))
    later = NOW + timedelta(minutes=20)
    known = {row.id for row in db.run_sync(ledger.open_sessions)}
    users = {"s1": {"servers": {"": {"ready": True, "last_activity": later.isoformat()}}}}
    actions = db.run_sync(lambda s: plan(s, catalog, users, known, later))
    assert [(a.username, a.kind) for a in actions] == [("s2", "vanished")]
    with db.sessions() as session:
        rows = {r.username: r for r in session.execute(select(GPUSession)).scalars()}
    assert rows["s2"].stopped_at == NOW and rows["s2"].stop_reason == "vanished"
    assert rows["s1"].stopped_at is None and rows["s1"].last_seen_at == later
    # A session opened after the hub was asked is not judged by that answer.
    db.run_sync(lambda s: ledger.admit_session(s, course, gpu, "s3", "", "student", later))
    assert db.run_sync(lambda s: plan(s, catalog, users, known, later)) == []
    assert {r.username for r in db.run_sync(ledger.open_sessions)} == {"s1", "s3"}
