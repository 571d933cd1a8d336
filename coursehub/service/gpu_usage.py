"""The GPU ledger as people read it: usage reports (who may see which courses, the SQL
reads; docs/gpu-usage.md), sessions, a user's availability and notices. The API
(``coursehub.service.api.gpu``, ``api.usage``) and the usage page (``usage_page``) answer
with these.

Who sees a usage report: admins every course of the catalog; a course's staff (and its
formgrader service) that course, and without ``course`` the courses they teach; anyone
else a 403 that says so.

The reads ask the database only for the rows that can matter in the window: sessions of
the courses admitted before its end and open or stopped after its start (the
``(course, stopped_at)`` index), refusals of the courses made in it (the ``at`` index).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from coursehub.catalog import Catalog
from coursehub.catalog.model import Course
from coursehub.gpu import policy
from coursehub.gpu.reports import (
    RefusalRow,
    Report,
    SessionRow,
    WindowError,
    build_report,
    parse_window,
)
from coursehub.service import gpu_ledger
from coursehub.service.models import GPURefusal, GPUSession
from coursehub.service.rules import (
    Caller,
    Refusal,
    find_course,
    lacks_staff_scope,
    role_in,
    staff_scope_refusal,
)


def courses_in_scope(catalog: Catalog, caller: Caller, course_id: str | None) -> list[str]:
    """The course ids whose GPU usage ``caller`` may see (one when ``course_id`` is given),
    or a ``Refusal`` that says why not (staff and admins need a staff-scoped token)."""
    if course_id:
        course = find_course(catalog, course_id)
        if role_in(course, caller) != "staff":
            if lacks_staff_scope(course, caller):
                raise staff_scope_refusal(caller, f"read the GPU usage of {course.id}")
            raise Refusal(
                403,
                f"{caller} is not staff of {course.id}: the GPU usage of a course is for "
                "its staff and admins.",
            )
        return [course.id]
    if caller.admin:
        return sorted(catalog.courses)
    taught = sorted(
        course.id for course in catalog.courses.values() if role_in(course, caller) == "staff"
    )
    if not taught:
        if caller.hub_admin or any(
            lacks_staff_scope(course, caller) for course in catalog.courses.values()
        ):
            raise staff_scope_refusal(caller, "read GPU usage reports")
        raise Refusal(
            403,
            f"{caller} is neither an admin nor staff of a course: GPU usage reports are for "
            "admins and course staff.",
        )
    return taught


def window(since: str | None, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The report's window from query arguments; a bad one is a 400 that names the
    parameter and the format. ``since`` defaults to this week's Monday 00:00 UTC."""
    try:
        return parse_window(since, until, now, policy.week_start(now))
    except WindowError as error:
        raise Refusal(400, str(error)) from None


def read_rows(
    db: Session, courses: list[str], since: datetime, until: datetime
) -> tuple[list[SessionRow], list[RefusalRow]]:
    """The ledger rows that may count in ``[since, until)`` for ``courses``."""
    if not courses:
        return [], []
    sessions = db.execute(
        select(
            GPUSession.username,
            GPUSession.course,
            GPUSession.gpu_equivalents,
            GPUSession.admitted_at,
            GPUSession.started_at,
            GPUSession.stopped_at,
            GPUSession.stop_reason,
            GPUSession.used_gpu_hours,
        ).where(
            GPUSession.course.in_(courses),
            or_(GPUSession.stopped_at.is_(None), GPUSession.stopped_at >= since),
            GPUSession.admitted_at < until,
        )
    ).all()
    refusals = db.execute(
        select(GPURefusal.username, GPURefusal.course, GPURefusal.reason, GPURefusal.at).where(
            GPURefusal.course.in_(courses),
            GPURefusal.at >= since,
            GPURefusal.at < until,
        )
    ).all()
    return [SessionRow(*row) for row in sessions], [RefusalRow(*row) for row in refusals]


async def usage_report(
    context, courses: list[str], since: datetime, until: datetime, now: datetime
) -> Report:
    sessions, refusals = await context.db.run(lambda db: read_rows(db, courses, since, until))
    return build_report(sessions, refusals, courses, since, until, now)


# ----- the ledger for the API ---------------------------------------------------------


def session_json(row: GPUSession, now: datetime) -> dict:
    charged = policy.gpu_hours(
        [policy.Span(row.gpu_equivalents, row.started_at, row.stopped_at)],
        row.started_at or row.admitted_at,
        now,
    )
    return {
        "id": row.id,
        "username": row.username,
        "server_name": row.server_name,
        "course": row.course,
        "environment": row.environment,
        "resource": row.resource,
        "gpus": row.gpus,
        "gpu_equivalents": row.gpu_equivalents,
        "role": row.role,
        "admitted_at": row.admitted_at.isoformat(),
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "stopped_at": row.stopped_at.isoformat() if row.stopped_at else None,
        "stop_reason": row.stop_reason,
        "gpu_hours": round(charged, 4),
        # Real use from the server's telemetry (migration 0008), beside the hours held.
        "used_gpu_hours": round(row.used_gpu_hours or 0.0, 4),
        "last_gpu_busy_at": _iso(row.last_gpu_busy_at),
        "last_telemetry_at": _iso(row.last_telemetry_at),
        "gpu_utilization": row.gpu_utilization,
        "gpu_memory_used_bytes": row.gpu_memory_used_bytes,
        "gpu_memory_total_bytes": row.gpu_memory_total_bytes,
        "notice": row.notice,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def session_list(db: Session, course_id: str | None, only_open: bool, now: datetime) -> list[dict]:
    """GPU sessions in admission order: of one course (None: all), only open ones if asked."""
    query = select(GPUSession).order_by(GPUSession.id)
    if course_id is not None:
        query = query.where(GPUSession.course == course_id)
    if only_open:
        query = query.where(GPUSession.stopped_at.is_(None))
    return [session_json(row, now) for row in db.execute(query).scalars()]


def availability(db: Session, courses: list[Course], username: str, now: datetime) -> dict:
    """Per course: the cap and what the course holds, the user's budget, what they used
    this week and when it resets (the spawn page's numbers)."""
    answer = {}
    for course in courses:
        gpu_policy = course.gpu_policy
        role = course.role_of(username) or "staff"
        budget = gpu_policy.gpu_hours_per_student_per_week
        used = gpu_ledger.used_hours(db, username, course.id, now)
        extra = gpu_ledger.extra_hours(db, username, course.id, now)
        exempt = policy.is_exempt(course, role)
        remaining = None
        if budget is not None and not exempt:
            remaining = max(0.0, budget + extra - used)
        answer[course.id] = {
            "cap": gpu_policy.max_concurrent_gpus,
            "held": gpu_ledger.gpus_held(db, course.id),
            "budget_hours": budget,
            "extra_hours": extra,
            "used_hours": round(used, 4),
            "remaining_hours": None if remaining is None else round(remaining, 4),
            "exempt": exempt,
            "resets_at": policy.week_reset(now).isoformat(),
        }
    return answer


def notices(db: Session, username: str) -> list[dict]:
    """The warnings of ``username``'s open GPU sessions (JupyterLab shows them)."""
    return [
        {"id": f"{row.id}-{row.notice_at.timestamp():.0f}", "message": row.notice}
        for row in gpu_ledger.open_sessions(db)
        if row.username == username and row.notice
    ]


def record_telemetry(
    db: Session,
    catalog: Catalog,
    username: str,
    server_name: str,
    report: gpu_ledger.Telemetry,
    now: datetime,
) -> dict | None:
    """Fold a server's telemetry into its open session; what its status bar shows (None:
    no open session for that server)."""
    row = gpu_ledger.open_session(db, username, server_name)
    if row is None:
        return None
    course = catalog.courses.get(row.course)
    busy = gpu_ledger.record_telemetry(db, row, course, report, now)
    hours_left = None
    if course is not None:
        budget = course.gpu_policy.gpu_hours_per_student_per_week
        if budget is not None and not policy.is_exempt(course, row.role):
            used = gpu_ledger.used_hours(db, username, course.id, now)
            extra = gpu_ledger.extra_hours(db, username, course.id, now)
            hours_left = round(max(0.0, budget + extra - used), 4)
    return {
        "course": row.course,
        "busy": busy,
        "gpu_utilization": row.gpu_utilization,
        "gpu_memory_used_bytes": row.gpu_memory_used_bytes,
        "gpu_memory_total_bytes": row.gpu_memory_total_bytes,
        "hours_left": hours_left,
        "resets_at": policy.week_reset(now).isoformat(),
        "held_gpu_hours": session_json(row, now)["gpu_hours"],
        "used_gpu_hours": round(row.used_gpu_hours, 4),
        "last_gpu_busy_at": _iso(row.last_gpu_busy_at),
    }
