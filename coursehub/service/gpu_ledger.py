"""The GPU usage ledger in the service's SQL database: every function takes an open
SQLAlchemy ``Session`` inside a transaction (``Database.run``) and the current time.

Admission is race-free: ``admit_session`` first locks the course's row in
``gpu_course_locks`` (a row lock on PostgreSQL, the write lock on SQLite), then counts the
GPUs the course holds and the user's hours and inserts the new session in the same
transaction, so concurrent spawns of one course are decided one after the other, by any
number of service threads or replicas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coursehub.catalog.model import Course, Environment
from coursehub.gpu import policy
from coursehub.service.models import (
    GPUCourseLock,
    GPUGrant,
    GPUQueueEntry,
    GPURefusal,
    GPUSession,
)


@dataclass(frozen=True)
class Admission:
    decision: policy.Decision
    session_id: int | None = None
    # In the course's queue at this place (1: next), when the course queues past its cap.
    position: int | None = None


def ensure_course_lock(db: Session, course_id: str) -> None:
    """Create the course's lock row if it is missing (in a transaction of its own, before
    ``admit_session``'s: two first admissions must not both insert it)."""
    if db.get(GPUCourseLock, course_id) is None:
        try:
            with db.begin_nested():
                db.add(GPUCourseLock(course=course_id))
        except IntegrityError:
            pass  # another admission created it first


def lock_course(db: Session, course_id: str) -> None:
    """Hold the course's admission lock until the transaction ends. An UPDATE rather than
    ``SELECT ... FOR UPDATE``: PostgreSQL locks the row either way, and SQLite (which
    ignores FOR UPDATE) takes its database write lock here, before anything is counted."""
    locked = db.execute(
        update(GPUCourseLock).where(GPUCourseLock.course == course_id).values(course=course_id)
    ).rowcount
    if not locked:
        db.add(GPUCourseLock(course=course_id))
        db.flush()


def open_session(db: Session, username: str, server_name: str) -> GPUSession | None:
    return db.execute(
        select(GPUSession).where(
            GPUSession.username == username,
            GPUSession.server_name == server_name,
            GPUSession.stopped_at.is_(None),
        )
    ).scalar_one_or_none()


def gpus_held(db: Session, course_id: str) -> float:
    """GPU-equivalents the course's open sessions hold (a quarter share counts 0.25)."""
    return float(
        db.execute(
            select(func.coalesce(func.sum(GPUSession.gpu_equivalents), 0.0)).where(
                GPUSession.course == course_id, GPUSession.stopped_at.is_(None)
            )
        ).scalar_one()
    )


def used_hours(db: Session, username: str, course_id: str, now: datetime) -> float:
    """The user's GPU-hours (in GPU-equivalents) in the course this week, running sessions
    up to ``now``."""
    since = policy.week_start(now)
    rows = db.execute(
        select(GPUSession.gpu_equivalents, GPUSession.started_at, GPUSession.stopped_at).where(
            GPUSession.username == username,
            GPUSession.course == course_id,
            GPUSession.started_at.is_not(None),
            GPUSession.started_at < now,
            or_(GPUSession.stopped_at.is_(None), GPUSession.stopped_at > since),
        )
    ).all()
    return policy.gpu_hours((policy.Span(*row) for row in rows), since, now)


def extra_hours(db: Session, username: str, course_id: str, now: datetime) -> float:
    return float(
        db.execute(
            select(func.coalesce(func.sum(GPUGrant.hours), 0.0)).where(
                GPUGrant.username == username,
                GPUGrant.course == course_id,
                GPUGrant.week_start == policy.week_start(now),
            )
        ).scalar_one()
    )


def waiting(db: Session, course_id: str) -> list[GPUQueueEntry]:
    """The course's queue, first come first."""
    return list(
        db.execute(
            select(GPUQueueEntry)
            .where(GPUQueueEntry.course == course_id, GPUQueueEntry.left_at.is_(None))
            .order_by(GPUQueueEntry.enqueued_at, GPUQueueEntry.id)
        ).scalars()
    )


def all_waiting(db: Session) -> list[GPUQueueEntry]:
    return list(db.execute(select(GPUQueueEntry).where(GPUQueueEntry.left_at.is_(None))).scalars())


def leave_queue(db: Session, username: str, server_name: str, outcome: str, now: datetime):
    for entry in db.execute(
        select(GPUQueueEntry).where(
            GPUQueueEntry.username == username,
            GPUQueueEntry.server_name == server_name,
            GPUQueueEntry.left_at.is_(None),
        )
    ).scalars():
        entry.left_at, entry.outcome = now, outcome


def admit_session(
    db: Session,
    course: Course,
    environment: Environment,
    username: str,
    server_name: str,
    role: str,
    now: datetime,
) -> Admission:
    """Decide a GPU spawn and, when admitted, open its session (see the module doc).

    In a course with ``queue_when_full`` a spawn past the cap joins the course's queue
    (``Admission.position``); the hub asks again until it is admitted, and spawns queued
    earlier go first."""
    lock_course(db, course.id)
    stale = open_session(db, username, server_name)
    if stale is not None:
        # The hub starts this server again, so the last start never reported its end
        # (a hub crash mid-spawn): close it where it was last known to run.
        close_open(db, stale, "restarted", stale.last_seen_at or stale.started_at or now)
        db.flush()
    queue = waiting(db, course.id) if course.gpu_policy.queue_when_full else []
    mine = next((e for e in queue if e.username == username and e.server_name == server_name), None)
    ahead = queue[: queue.index(mine)] if mine is not None else queue
    decision = policy.admit(
        course,
        environment,
        role,
        gpus_held(db, course.id),
        used_hours(db, username, course.id, now),
        extra_hours(db, username, course.id, now),
        now,
        gpus_queued_ahead=sum(entry.gpu_equivalents for entry in ahead),
    )
    if decision.reason == "cap" and course.gpu_policy.queue_when_full:
        if mine is None:
            db.add(
                GPUQueueEntry(
                    username=username,
                    server_name=server_name,
                    course=course.id,
                    environment=environment.slug,
                    gpus=environment.gpu_count,
                    gpu_equivalents=environment.gpu_equivalents,
                    enqueued_at=now,
                )
            )
        return Admission(decision, position=len(ahead) + 1)
    if not decision.admitted:
        if mine is not None:
            mine.left_at, mine.outcome = now, "refused"
        db.add(
            GPURefusal(
                username=username,
                course=course.id,
                environment=environment.slug,
                reason=decision.reason,
                message=decision.message,
                at=now,
            )
        )
        return Admission(decision)
    if mine is not None:
        mine.left_at, mine.outcome = now, "admitted"
    row = GPUSession(
        username=username,
        server_name=server_name,
        course=course.id,
        environment=environment.slug,
        resource=environment.gpu.resource,
        gpus=environment.gpu_count,
        gpu_equivalents=environment.gpu_equivalents,
        role=role,
        admitted_at=now,
    )
    db.add(row)
    db.flush()
    return Admission(decision, row.id)


def mark_started(db: Session, username: str, server_name: str, now: datetime) -> bool:
    row = open_session(db, username, server_name)
    if row is None:
        return False
    if row.started_at is None:
        row.started_at = now
    row.last_seen_at = now
    return True


def request_stop(row: GPUSession, reason: str, message: str, now: datetime) -> None:
    """The enforcer asks the hub to stop this session's server: the reason and the user's
    sentence are recorded now, the session stays open (it holds its GPUs and is charged)
    until the server is gone (``close_open``), and the enforcer asks again each pass."""
    row.stop_reason = reason
    row.notice, row.notice_at, row.notice_reason = message, now, reason


def stop_requested(row: GPUSession) -> bool:
    return row.stopped_at is None and row.stop_reason is not None


def close_open(db: Session, row: GPUSession, reason: str, at: datetime) -> None:
    """Close the session at ``at``; a stop the enforcer asked for keeps its reason (the
    hub reports it as an ordinary stop)."""
    row.stopped_at = max(at, row.admitted_at)
    row.stop_reason = row.stop_reason or reason


def close(db: Session, username: str, server_name: str, reason: str, now: datetime) -> bool:
    """Close the server's open session, if any, and take it out of its course's queue
    (idempotent: False when no session was open)."""
    leave_queue(db, username, server_name, "left", now)
    row = open_session(db, username, server_name)
    if row is None:
        return False
    close_open(db, row, reason, now)
    return True


def open_sessions(db: Session) -> list[GPUSession]:
    return list(
        db.execute(
            select(GPUSession).where(GPUSession.stopped_at.is_(None)).order_by(GPUSession.id)
        ).scalars()
    )


def open_totals(db: Session) -> dict[str, tuple[int, float]]:
    """Per course with open sessions: how many, and the GPU-equivalents they hold (one
    grouped query over the open sessions' index, for metrics scrapes)."""
    rows = db.execute(
        select(GPUSession.course, func.count(), func.sum(GPUSession.gpu_equivalents))
        .where(GPUSession.stopped_at.is_(None))
        .group_by(GPUSession.course)
    )
    return {course: (int(count), float(held or 0)) for course, count, held in rows}


def charged_until(db: Session, username: str, server_name: str) -> datetime | None:
    """Until when the server's closed sessions charged it (the latest ``stopped_at``)."""
    return db.execute(
        select(func.max(GPUSession.stopped_at)).where(
            GPUSession.username == username, GPUSession.server_name == server_name
        )
    ).scalar_one()


def closed_since(db: Session, username: str, server_name: str, since: datetime) -> bool:
    return (
        db.execute(
            select(GPUSession.id)
            .where(
                GPUSession.username == username,
                GPUSession.server_name == server_name,
                GPUSession.stopped_at >= since,
            )
            .limit(1)
        ).first()
        is not None
    )


def adopt_running(
    db: Session,
    course: Course,
    environment: Environment,
    username: str,
    server_name: str,
    role: str | None,
    running_since: datetime | None,
    now: datetime,
) -> tuple[GPUSession, policy.Decision] | None:
    """Open a session for a GPU server found running without one (its session was lost,
    or closed while the server ran on): from now on it counts in the course's cap, and it
    is charged from ``running_since`` or from where its last session stopped charging,
    whichever is later. Decided like a spawn now (``policy.admit``, spawns queued in the
    course first): when the course would refuse it, or ``role`` is None (no longer a
    member), the session asks for the server's stop with reason ``unadmitted``. None when
    a session was opened meanwhile."""
    lock_course(db, course.id)
    if open_session(db, username, server_name) is not None:
        return None
    queued = sum(entry.gpu_equivalents for entry in waiting(db, course.id))
    if role is None:
        decision = policy.Decision(
            False,
            message=f"You are not a member of {course.id}.",
            status=403,
        )
    else:
        decision = policy.admit(
            course,
            environment,
            role,
            gpus_held(db, course.id),
            used_hours(db, username, course.id, now),
            extra_hours(db, username, course.id, now),
            now,
            gpus_queued_ahead=queued,
        )
    starts = [t for t in (running_since, charged_until(db, username, server_name)) if t]
    # Admitted and charged from then: reports and budgets see the GPU held since then.
    since = min(max(starts), now) if starts else now
    row = GPUSession(
        username=username,
        server_name=server_name,
        course=course.id,
        environment=environment.slug,
        resource=environment.gpu.resource,
        gpus=environment.gpu_count,
        gpu_equivalents=environment.gpu_equivalents,
        role=role or "student",
        admitted_at=since,
        started_at=since,
        last_seen_at=now,
    )
    db.add(row)
    if not decision.admitted:
        request_stop(
            row,
            "unadmitted",
            "Your GPU server was stopped: it ran without a GPU session, and it would not be "
            f"admitted now. {decision.message}",
            now,
        )
    db.flush()
    return row, decision


def add_grant(db: Session, grant: GPUGrant, now: datetime) -> float:
    """Record an admin's grant of extra GPU-hours; returns the user's extra hours in the
    course this week, the new grant included."""
    db.add(grant)
    return extra_hours(db, grant.username, grant.course, now) + grant.hours


@dataclass(frozen=True)
class Telemetry:
    """One report of a GPU server (``POST api/gpu/telemetry``): the mean GPU utilisation in
    percent since its last report (None: no GPU reading), GPU memory in bytes, and whether
    a kernel executed code since its last report."""

    utilization: float | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    kernel_busy: bool


def record_telemetry(
    db: Session, row: GPUSession, course: Course | None, report: Telemetry, now: datetime
) -> bool:
    """Fold one report into the server's open session: used GPU-hours grow by the time
    since the last report when the GPU was busy (``policy.used_gpu_hours``), and
    ``last_gpu_busy_at`` moves to now when the GPU or a kernel was busy. Returns whether
    the report counted as busy. A session whose course left the catalog keeps no use."""
    gpu_busy = course is not None and policy.is_gpu_busy(report.utilization, course)
    if row.started_at is not None:
        row.used_gpu_hours = (row.used_gpu_hours or 0.0) + policy.used_gpu_hours(
            row.gpu_equivalents, row.last_telemetry_at, now, gpu_busy, row.started_at
        )
    busy = gpu_busy or report.kernel_busy
    if busy:
        row.last_gpu_busy_at = now
        if row.notice is not None and row.notice_reason == "idle" and row.stop_reason is None:
            row.notice = row.notice_at = row.notice_reason = None  # it is used again
    row.last_telemetry_at = now
    row.gpu_utilization = report.utilization
    row.gpu_memory_used_bytes = report.memory_used_bytes
    row.gpu_memory_total_bytes = report.memory_total_bytes
    return busy
