"""Extensions in the service's database: grant, list, revoke, and each student's due dates
of one assignment (``student_dues``). Functions take an open session and plain values; the
rules (``due_dates``) are pure and the handlers decide who may call these (``rules``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from coursehub.service.due_dates import Grant, GrantRequest, StudentDues
from coursehub.service.models import Extension
from coursehub.service.rules import Refusal


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def grant(
    session: Session, course: str, request: GrantRequest, granted_by: str, now: datetime
) -> Extension:
    row = Extension(
        course=course,
        student=request.student,
        assignment=request.assignment,
        until=request.until,
        minutes=request.minutes,
        reason=request.reason,
        granted_by=granted_by,
        granted_at=now,
    )
    session.add(row)
    session.flush()
    return row


def revoke(
    session: Session, course: str, extension_id: int, revoked_by: str, now: datetime
) -> Extension:
    row = session.get(Extension, extension_id)
    if row is None or row.course != course:
        raise Refusal(404, f"{course} has no extension {extension_id}")
    if row.revoked_at is not None:
        raise Refusal(409, f"extension {extension_id} was already revoked by {row.revoked_by}")
    row.revoked_by = revoked_by
    row.revoked_at = now
    session.flush()
    return row


def listed(
    session: Session, course: str, student: str | None = None, revoked: bool = False
) -> list[Extension]:
    """The course's extensions (of ``student`` only, if given), oldest first; revoked ones
    only when ``revoked``."""
    query = select(Extension).where(Extension.course == course)
    if student is not None:
        query = query.where(Extension.student == student)
    if not revoked:
        query = query.where(Extension.revoked_at.is_(None))
    return list(session.scalars(query.order_by(Extension.id)))


def grants(rows: list[Extension]) -> list[Grant]:
    return [Grant(row.student, row.assignment, row.until, row.minutes) for row in rows]


def student_dues(
    session: Session, course: str, assignment: str, base: datetime | None
) -> StudentDues:
    """Who is due when for ``assignment``: ``base`` moved by each student's extensions."""
    rows = session.scalars(
        select(Extension).where(
            Extension.course == course,
            Extension.revoked_at.is_(None),
            (Extension.assignment == assignment) | Extension.assignment.is_(None),
        )
    ).all()
    return StudentDues.build(base, assignment, grants(list(rows)))


def extension_json(row: Extension) -> dict:
    return {
        "id": row.id,
        "course": row.course,
        "student": row.student,
        "assignment": row.assignment,
        "until": iso(row.until),
        "minutes": row.minutes,
        "reason": row.reason,
        "granted_by": row.granted_by,
        "granted_at": iso(row.granted_at),
        "revoked_by": row.revoked_by,
        "revoked_at": iso(row.revoked_at),
    }
