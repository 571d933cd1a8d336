"""The GPU ledger's SQL on SQLite and a real PostgreSQL: concurrent admissions never pass a
course's cap; the enforcer's plan closes vanished sessions at their last sighting, closes a
session it stops only once the server is gone, and counts GPU servers found without a
session again (or stops them when the course would not admit them)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factories import CPU_IMAGE, GPU_IMAGE, catalog, course, environment, roomy
from postgres import running_postgres
from sqlalchemy import select

from coursehub.catalog import Catalog
from coursehub.catalog.model import Course
from coursehub.service import gpu_ledger as ledger
from coursehub.service.db import Database
from coursehub.service.gpu_enforcer import plan
from coursehub.service.models import GPUQueueEntry, GPURefusal, GPUSession

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
STUDENTS = [f"s{n}" for n in range(1, 21)]


def gpu_course(**policy) -> Course:
    return course(
        "ai-101",
        title="AI",
        term="test",
        students=STUDENTS,
        environments=[
            environment("gpu", "AI-101 · 1 GPU", GPU_IMAGE, **roomy(), gpu={"count": 1}),
            environment("cpu", "AI-101 · CPU", CPU_IMAGE, **roomy()),
        ],
        gpu_policy=policy,
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


def test_a_queueing_course_hands_freed_places_to_the_queue_in_order(db):
    course = gpu_course(max_concurrent_gpus=1, queue_when_full=True)
    gpu = course.environment("gpu")

    def ask(name: str, minutes: int):
        at = NOW + timedelta(minutes=minutes)
        return db.run_sync(lambda s: ledger.admit_session(s, course, gpu, name, "", "student", at))

    assert ask("s1", 0).session_id is not None
    assert ask("s2", 1).position == 1
    assert ask("s3", 2).position == 2
    assert ask("s3", 3).position == 2  # asking again keeps the place
    db.run_sync(lambda s: ledger.close(s, "s1", "", "stopped", NOW + timedelta(minutes=4)))
    assert ask("s3", 5).position == 2  # the freed place is s2's, not the first asker's
    assert ask("s2", 6).session_id is not None
    assert ask("s3", 7).position == 1
    db.run_sync(lambda s: ledger.close(s, "s3", "", "start_failed", NOW + timedelta(minutes=8)))
    assert ask("s4", 9).position == 1  # s3 gave up: s4 is next
    with db.sessions() as session:
        outcomes = {e.username: e.outcome for e in session.execute(select(GPUQueueEntry)).scalars()}
        session.query(GPUQueueEntry).delete()
        session.commit()
    assert outcomes == {"s2": "admitted", "s3": "left", "s4": None}


# --- the enforcer closes a session only once its server is gone (security review §13) -----


def ready(started=None, profile: str | None = "ai-101-gpu", **extra) -> dict:
    server = {"ready": True, "pending": None, "last_activity": None, **extra}
    server["started"] = started.isoformat() if started else None
    server["user_options"] = {"profile": profile} if profile is not None else {}
    return {"servers": {"": server}}


def start(db, course: Course, name: str, at: datetime) -> None:
    gpu = course.environment("gpu")
    db.run_sync(lambda s: ledger.admit_session(s, course, gpu, name, "", "student", at))
    db.run_sync(lambda s: ledger.mark_started(s, name, "", at))


def rows_of(db) -> dict[str, list[GPUSession]]:
    with db.sessions() as session:
        rows: dict[str, list[GPUSession]] = {}
        for row in session.execute(select(GPUSession).order_by(GPUSession.id)).scalars():
            rows.setdefault(row.username, []).append(row)
        return rows


def one_pass(db, catalog: Catalog, users: dict, at: datetime, **options):
    """One enforcement pass's plan, with the hub's answer ``users``; what it decided."""
    known = {row.id for row in db.run_sync(ledger.open_sessions)}
    actions = db.run_sync(lambda s: plan(s, catalog, users, known, at, **options))
    return [(a.username, a.kind, a.reason) for a in actions]


def catalog_of(course: Course) -> Catalog:
    return catalog(course, root=Path("."))


def test_a_stop_the_hub_has_not_carried_out_keeps_the_session_open_and_is_asked_again(db):
    course = gpu_course(gpu_hours_per_student_per_week=1)
    catalog = catalog_of(course)
    start(db, course, "s1", NOW)
    over = NOW + timedelta(hours=2)
    assert one_pass(db, catalog, {"s1": ready(NOW)}, over) == [("s1", "stop", "budget")]
    (row,) = rows_of(db)["s1"]
    # The stop is asked for, not done: the server still holds its GPU and is still charged.
    assert row.stopped_at is None and row.stop_reason == "budget"
    assert "budget" in row.notice
    assert db.run_sync(lambda s: ledger.gpus_held(s, course.id)) == 1

    # The hub did not stop it (down, or the stop failed): the next pass asks again.
    later = over + timedelta(minutes=1)
    assert one_pass(db, catalog, {"s1": ready(NOW)}, later) == [("s1", "stop", "budget")]
    (row,) = rows_of(db)["s1"]
    assert row.stopped_at is None and row.last_seen_at == later

    # The hub stops it and reports the stop: closed then, with the enforcer's reason.
    stopped = later + timedelta(seconds=20)
    assert db.run_sync(lambda s: ledger.close(s, "s1", "", "stopped", stopped))
    (row,) = rows_of(db)["s1"]
    assert (row.stopped_at, row.stop_reason) == (stopped, "budget")
    assert one_pass(db, catalog, {}, stopped + timedelta(minutes=1)) == []


def test_a_server_gone_without_a_stop_report_closes_with_the_reason_asked_for(db):
    course = gpu_course(max_session_hours=1)
    catalog = catalog_of(course)
    start(db, course, "s1", NOW)
    over = NOW + timedelta(hours=1, minutes=5)
    assert one_pass(db, catalog, {"s1": ready(NOW)}, over) == [("s1", "stop", "session_limit")]
    # The hub no longer lists it (the report was lost): closed when it was last seen.
    gone = over + timedelta(minutes=3)
    assert one_pass(db, catalog, {}, gone) == [("s1", "gone", "session_limit")]
    (row,) = rows_of(db)["s1"]
    assert (row.stopped_at, row.stop_reason) == (over, "session_limit")


def test_a_running_gpu_server_without_a_session_is_counted_again_from_its_start(db):
    course = gpu_course(max_concurrent_gpus=2, gpu_hours_per_student_per_week=10)
    catalog = catalog_of(course)
    later = NOW + timedelta(hours=2)
    users = {
        "s1": ready(NOW),  # the default profile: the course's GPU environment
        "s2": ready(NOW, profile=""),
        "s3": ready(NOW, profile="ai-101-cpu"),  # no GPU: not the ledger's business
    }
    assert sorted(one_pass(db, catalog, users, later)) == [
        ("s1", "adopted", ""),
        ("s2", "adopted", ""),
    ]
    rows = rows_of(db)
    assert set(rows) == {"s1", "s2"}
    for (row,) in rows.values():
        assert row.stopped_at is None and row.started_at == NOW and row.gpus == 1
        assert row.role == "student" and row.environment == "gpu"
    # Charged from the server's start: two hours of the budget are gone.
    hours = db.run_sync(lambda s: ledger.used_hours(s, "s1", course.id, later))
    assert hours == pytest.approx(2)
    assert db.run_sync(lambda s: ledger.gpus_held(s, course.id)) == 2
    # Counted once: the next pass leaves them alone.
    assert one_pass(db, catalog, users, later + timedelta(minutes=1)) == []


def test_a_server_whose_session_closed_too_early_is_charged_only_for_the_rest(db):
    course = gpu_course(gpu_hours_per_student_per_week=10)
    catalog = catalog_of(course)
    start(db, course, "s1", NOW)
    # Closed as vanished at its last sighting (a hub that briefly did not list it) ...
    seen = NOW + timedelta(hours=1)
    db.run_sync(lambda s: ledger.mark_started(s, "s1", "", seen))
    assert one_pass(db, catalog, {}, seen + timedelta(minutes=1)) == [
        ("s1", "vanished", "vanished")
    ]
    # ... while it kept running: counted again from there, not from its start.
    later = NOW + timedelta(hours=3)
    assert one_pass(db, catalog, {"s1": ready(NOW)}, later) == [("s1", "adopted", "")]
    closed, adopted = rows_of(db)["s1"]
    assert closed.stopped_at == seen and adopted.started_at == seen
    hours = db.run_sync(lambda s: ledger.used_hours(s, "s1", course.id, later))
    assert hours == pytest.approx(3)


def test_a_server_without_a_session_past_the_cap_is_stopped_and_counted_until_gone(db):
    course = gpu_course(max_concurrent_gpus=1)
    catalog = catalog_of(course)
    start(db, course, "s1", NOW)
    later = NOW + timedelta(minutes=30)
    users = {"s1": ready(NOW), "s2": ready(NOW + timedelta(minutes=10)), "outsider": ready(NOW)}
    assert sorted(one_pass(db, catalog, users, later)) == [
        ("outsider", "stop", "unadmitted"),
        ("s2", "stop", "unadmitted"),
    ]
    rows = rows_of(db)
    (s2,) = rows["s2"]
    assert s2.stopped_at is None and s2.stop_reason == "unadmitted"
    assert "ai-101 allows 1 GPU at once" in s2.notice
    (outsider,) = rows["outsider"]
    assert "not a member of ai-101" in outsider.notice
    # While they run they hold GPUs of the course (and s2 is charged); once gone, closed.
    assert db.run_sync(lambda s: ledger.gpus_held(s, course.id)) == 3
    gone = later + timedelta(minutes=1)
    assert sorted(one_pass(db, catalog, {"s1": ready(NOW)}, gone)) == [
        ("outsider", "gone", "unadmitted"),
        ("s2", "gone", "unadmitted"),
    ]
    assert db.run_sync(lambda s: ledger.gpus_held(s, course.id)) == 1


def test_a_server_whose_stop_was_reported_after_the_hub_was_asked_is_not_adopted(db):
    """The hub's answer is older than the ledger read in the pass: a session closed since
    the hub was asked means that answer is stale for its server."""
    course = gpu_course()
    catalog = catalog_of(course)
    start(db, course, "s1", NOW)
    asked = NOW + timedelta(minutes=10)
    db.run_sync(lambda s: ledger.close(s, "s1", "", "stopped", asked + timedelta(seconds=1)))
    users = {"s1": ready(NOW)}  # listed as running when the hub was asked
    assert one_pass(db, catalog, users, asked + timedelta(seconds=2), asked_at=asked) == []
    assert db.run_sync(ledger.open_sessions) == []


def test_idleness_comes_from_telemetry_not_from_the_hubs_activity(db):
    """s1's GPU works, s2's only has a browser tab that keeps the hub's activity fresh: the
    plan warns s2, then asks for its stop as idle; s1 is left alone and its use recorded
    (on both databases: the telemetry columns of migration 0008)."""
    course = gpu_course(gpu_idle_timeout_minutes=30)
    catalog = Catalog(root=Path("."), courses={course.id: course})
    gpu = course.environment("gpu")
    for name in ("s1", "s2"):
        db.run_sync(lambda s, n=name: ledger.admit_session(s, course, gpu, n, "", "student", NOW))
        db.run_sync(lambda s, n=name: ledger.mark_started(s, n, "", NOW))
    busy = ledger.Telemetry(90.0, 8 << 30, 16 << 30, kernel_busy=False)
    idle = ledger.Telemetry(0.0, 1 << 30, 16 << 30, kernel_busy=False)

    def report(at: datetime) -> None:
        for name, telemetry in (("s1", busy), ("s2", idle)):
            db.run_sync(
                lambda s, n=name, t=telemetry: ledger.record_telemetry(
                    s, ledger.open_session(s, n, ""), course, t, at
                )
            )

    def judge(at: datetime) -> list[tuple[str, str, str]]:
        known = {row.id for row in db.run_sync(ledger.open_sessions)}
        fresh = {"ready": True, "last_activity": at.isoformat()}  # a tab left open
        users = {name: {"servers": {"": fresh}} for name in ("s1", "s2")}
        actions = db.run_sync(lambda s: plan(s, catalog, users, known, at))
        return [(a.username, a.kind, a.reason) for a in actions]

    for minute in range(1, 22):
        report(NOW + timedelta(minutes=minute))
    assert judge(NOW + timedelta(minutes=21)) == [("s2", "warn", "idle")]
    for minute in range(22, 31):
        report(NOW + timedelta(minutes=minute))
    assert judge(NOW + timedelta(minutes=30)) == [("s2", "stop", "idle")]
    with db.sessions() as session:
        rows = {r.username: r for r in session.execute(select(GPUSession)).scalars()}
    assert rows["s1"].used_gpu_hours == pytest.approx(30 / 60)
    assert rows["s1"].last_gpu_busy_at == NOW + timedelta(minutes=30)
    assert rows["s1"].gpu_memory_used_bytes == 8 << 30 and rows["s1"].stop_reason is None
    assert rows["s2"].used_gpu_hours == 0 and rows["s2"].last_gpu_busy_at is None
    assert rows["s2"].stop_reason == "idle" and rows["s2"].notice_reason == "idle"
