"""GPU usage reports in the service: who may see which courses, the SQL reads, and the API
handler ``GET api/gpu/usage?course=C&since=…&until=…`` (docs/gpu-usage.md).

Who sees what: admins every course of the catalog; a course's staff (and its formgrader
service) that course, and without ``course`` the courses they teach; anyone else a 403
that says so. The hub page (``usage_page``) uses the same functions.

The reads ask the database only for the rows that can matter in the window: sessions of
the courses admitted before its end and open or stopped after its start (the
``(course, stopped_at)`` index), refusals of the courses made in it (the ``at`` index).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from coursehub.catalog import Catalog
from coursehub.gpu import policy
from coursehub.gpu.reports import (
    RefusalRow,
    Report,
    SessionRow,
    WindowError,
    build_report,
    parse_window,
    report_json,
)
from coursehub.service.gpu_handlers import GPUHandler
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
            GPUSession.gpus,
            GPUSession.admitted_at,
            GPUSession.started_at,
            GPUSession.stopped_at,
            GPUSession.stop_reason,
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


class UsageHandler(GPUHandler):
    """``GET api/gpu/usage``: the report as JSON (``reports.report_json`` plus ``now``)."""

    async def get(self):
        courses = courses_in_scope(
            self.context.catalog, self.caller, self.get_argument("course", None) or None
        )
        now = self.context.now()
        since, until = window(
            self.get_argument("since", None) or None, self.get_argument("until", None) or None, now
        )
        report = await usage_report(self.context, courses, since, until, now)
        self.write_json({**report_json(report), "now": now.isoformat()})


def usage_routes(prefix: str) -> list[tuple]:
    return [(rf"{prefix}api/gpu/usage", UsageHandler)]
