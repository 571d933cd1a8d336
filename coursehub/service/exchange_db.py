"""The exchange's bookkeeping: what was released, fetched, submitted, collected and given
back as feedback. Functions take an open SQLAlchemy session and plain values, and return
rows or JSON-ready dicts; the handlers decide who may call them (``rules``) and move the
bytes (``store``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coursehub.exchange.archive import Archive
from coursehub.service.models import Collection, Feedback, Fetch, Release, Submission
from coursehub.service.rules import choose_for_collection, is_late


def manifest_json(archive: Archive) -> str:
    return json.dumps([{"path": f.path, "size": f.size, "sha256": f.sha256} for f in archive.files])


def paths(manifest: str) -> list[str]:
    return [entry["path"] for entry in json.loads(manifest)]


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# ----- releases ------------------------------------------------------------------------


def current_release(session: Session, course: str, assignment: str) -> Release | None:
    return session.scalars(
        select(Release)
        .where(
            Release.course == course,
            Release.assignment == assignment,
            Release.withdrawn_at.is_(None),
        )
        .order_by(Release.id.desc())
        .limit(1)
    ).first()


def current_releases(session: Session, course: str) -> list[Release]:
    newest = (
        select(func.max(Release.id))
        .where(Release.course == course, Release.withdrawn_at.is_(None))
        .group_by(Release.assignment)
    )
    return list(
        session.scalars(select(Release).where(Release.id.in_(newest)).order_by(Release.assignment))
    )


def publish_release(
    session: Session,
    course: str,
    assignment: str,
    archive: Archive,
    blob: str,
    released_by: str,
    now: datetime,
) -> tuple[Release, bool, bool]:
    """Make ``archive`` the current release. Returns ``(release, created, replaced)``; the
    same content again is a no-op that returns the existing release."""
    existing = current_release(session, course, assignment)
    if existing is not None and existing.checksum == archive.checksum:
        return existing, False, False
    release = Release(
        course=course,
        assignment=assignment,
        checksum=archive.checksum,
        blob=blob,
        files=len(archive.files),
        manifest=manifest_json(archive),
        released_at=now,
        released_by=released_by,
    )
    session.add(release)
    session.flush()
    return release, True, existing is not None


def withdraw_release(session: Session, course: str, assignment: str, now: datetime) -> int:
    rows = session.scalars(
        select(Release).where(
            Release.course == course,
            Release.assignment == assignment,
            Release.withdrawn_at.is_(None),
        )
    ).all()
    for release in rows:
        release.withdrawn_at = now
    return len(rows)


def release_json(release: Release, title: str | None, due: datetime | None) -> dict:
    return {
        "name": release.assignment,
        "title": title or release.assignment,
        "released_at": iso(release.released_at),
        "due": iso(due),
        "checksum": release.checksum,
        "files": release.files,
        "paths": paths(release.manifest),
    }


# ----- fetches -------------------------------------------------------------------------


def record_fetch(session: Session, course: str, assignment: str, student: str, now: datetime):
    fetch = session.scalars(
        select(Fetch).where(
            Fetch.course == course, Fetch.assignment == assignment, Fetch.student == student
        )
    ).first()
    if fetch is None:
        session.add(
            Fetch(
                course=course,
                assignment=assignment,
                student=student,
                first_fetched_at=now,
                last_fetched_at=now,
            )
        )
    else:
        fetch.last_fetched_at = now


def fetches(session: Session, course: str, assignment: str) -> dict[str, Fetch]:
    rows = session.scalars(
        select(Fetch).where(Fetch.course == course, Fetch.assignment == assignment)
    )
    return {row.student: row for row in rows}


# ----- submissions ---------------------------------------------------------------------


def add_submission(
    session: Session,
    course: str,
    assignment: str,
    student: str,
    archive: Archive,
    blob: str,
    now: datetime,
) -> Submission:
    """Store a new version (the previous highest + 1). Two concurrent calls for the same
    student may pick the same number; the unique constraint refuses the second, and the
    caller retries (``Database.run`` rolls back)."""
    latest = session.scalar(
        select(func.max(Submission.version)).where(
            Submission.course == course,
            Submission.assignment == assignment,
            Submission.student == student,
        )
    )
    submission = Submission(
        course=course,
        assignment=assignment,
        student=student,
        version=(latest or 0) + 1,
        submitted_at=now,
        checksum=archive.checksum,
        size=archive.size,
        blob=blob,
        files=manifest_json(archive),
    )
    session.add(submission)
    session.flush()
    return submission


def submissions(
    session: Session, course: str, assignment: str, student: str | None = None
) -> list[Submission]:
    query = select(Submission).where(
        Submission.course == course, Submission.assignment == assignment
    )
    if student is not None:
        query = query.where(Submission.student == student)
    return list(session.scalars(query.order_by(Submission.student, Submission.version)))


def submission(
    session: Session, course: str, assignment: str, student: str, version: int
) -> Submission | None:
    return session.scalars(
        select(Submission).where(
            Submission.course == course,
            Submission.assignment == assignment,
            Submission.student == student,
            Submission.version == version,
        )
    ).first()


def chosen_for_collection(
    rows: Iterable[Submission], due_of: Callable[[str], datetime | None]
) -> dict[str, Submission]:
    """Per student, the version the collect rule picks against ``due_of(student)``, the
    student's own due date (``due_dates.StudentDues.of``)."""
    by_student: dict[str, list[Submission]] = {}
    for row in rows:
        by_student.setdefault(row.student, []).append(row)
    chosen = {}
    for student, versions in sorted(by_student.items()):
        pick = choose_for_collection(versions, due_of(student))
        if pick is not None:
            chosen[student] = pick
    return chosen


def submission_json(row: Submission, due: datetime | None) -> dict:
    return {
        "student": row.student,
        "version": row.version,
        "submitted_at": iso(row.submitted_at),
        "checksum": row.checksum,
        "size": row.size,
        "late": is_late(row.submitted_at, due),
        "paths": paths(row.files),
    }


# ----- collections ---------------------------------------------------------------------


def record_collection(
    session: Session, row: Submission, collected_by: str, now: datetime
) -> Collection:
    existing = session.scalars(
        select(Collection).where(
            Collection.course == row.course,
            Collection.assignment == row.assignment,
            Collection.student == row.student,
        )
    ).first()
    if existing is None:
        existing = Collection(course=row.course, assignment=row.assignment, student=row.student)
        session.add(existing)
    existing.version = row.version
    existing.collected_at = now
    existing.collected_by = collected_by
    return existing


def collections(session: Session, course: str, assignment: str) -> dict[str, Collection]:
    rows = session.scalars(
        select(Collection).where(Collection.course == course, Collection.assignment == assignment)
    )
    return {row.student: row for row in rows}


# ----- feedback ------------------------------------------------------------------------


def put_feedback(
    session: Session,
    target: Submission,
    archive: Archive,
    blob: str,
    released_by: str,
    now: datetime,
) -> Feedback:
    """Release feedback for one submission version; a regrade releases it again."""
    row = session.scalars(
        select(Feedback).where(
            Feedback.course == target.course,
            Feedback.assignment == target.assignment,
            Feedback.student == target.student,
            Feedback.version == target.version,
        )
    ).first()
    if row is None:
        row = Feedback(
            course=target.course,
            assignment=target.assignment,
            student=target.student,
            version=target.version,
        )
        session.add(row)
    row.released_at = now
    row.released_by = released_by
    row.checksum = archive.checksum
    row.blob = blob
    session.flush()
    return row


def feedback(
    session: Session, course: str, assignment: str, student: str | None = None
) -> list[Feedback]:
    query = select(Feedback).where(Feedback.course == course, Feedback.assignment == assignment)
    if student is not None:
        query = query.where(Feedback.student == student)
    return list(session.scalars(query.order_by(Feedback.student, Feedback.version)))


def feedback_json(row: Feedback, submitted_at: datetime | None) -> dict:
    return {
        "student": row.student,
        "version": row.version,
        "submitted_at": iso(submitted_at),
        "released_at": iso(row.released_at),
        "checksum": row.checksum,
    }
