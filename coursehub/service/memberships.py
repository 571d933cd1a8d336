"""The membership overlay in the service database: imported rosters and sign-in
memberships, read as a ``coursehub.catalog.overlay.Overlay`` and replaced whole.

Functions take a SQLAlchemy session (run them with ``Database.run``). Every write bumps
the one-row ``membership_revision`` in the same transaction, so ``database_overlay_source``
reloads the rows only when something changed (one small query per poll otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from coursehub.catalog.overlay import ImportedRoster, Membership, Overlay, RosterEntry
from coursehub.catalog.roster import RosterRow
from coursehub.catalog.sync import OverlaySource
from coursehub.service.db import Database
from coursehub.service.models import (
    IdpMembership,
    MembershipRevision,
    RosterImport,
    RosterStudent,
)


def revision(session: Session) -> int:
    return session.scalar(select(MembershipRevision.revision).where(MembershipRevision.id == 1))


def _bump(session: Session) -> None:
    session.execute(
        update(MembershipRevision)
        .where(MembershipRevision.id == 1)
        .values(revision=MembershipRevision.revision + 1)
    )


def load_overlay(session: Session) -> Overlay:
    imports = {row.course: row for row in session.scalars(select(RosterImport))}
    entries: dict[str, list[RosterEntry]] = {course: [] for course in imports}
    for row in session.scalars(select(RosterStudent).order_by(RosterStudent.position)):
        entries.setdefault(row.course, []).append(RosterEntry(row.username, row.email, row.name))
    rosters = [
        ImportedRoster(
            course=course,
            entries=tuple(entries[course]),
            imported_by=row.imported_by,
            imported_at=row.imported_at.isoformat(timespec="seconds"),
        )
        for course, row in imports.items()
    ]
    memberships = [
        Membership(row.username, row.source, row.course, row.role)
        for row in session.scalars(select(IdpMembership))
    ]
    return Overlay(tuple(rosters), tuple(memberships))


def roster_filename(session: Session, course: str) -> str | None:
    row = session.get(RosterImport, course)
    return None if row is None else row.filename


def replace_roster(
    session: Session,
    course: str,
    rows: Iterable[RosterRow],
    imported_by: str,
    imported_at: datetime,
    filename: str = "",
) -> None:
    """Make ``rows`` the course's imported roster (replacing any earlier import)."""
    session.execute(delete(RosterStudent).where(RosterStudent.course == course))
    session.execute(delete(RosterImport).where(RosterImport.course == course))
    session.add(
        RosterImport(
            course=course, imported_by=imported_by, imported_at=imported_at, filename=filename
        )
    )
    session.flush()
    session.add_all(
        RosterStudent(
            course=course,
            position=position,
            line=row.line,
            username=row.username,
            email=row.email,
            name=row.name,
        )
        for position, row in enumerate(rows)
    )
    _bump(session)


def clear_roster(session: Session, course: str) -> bool:
    """Drop the course's imported roster; False if it had none."""
    session.execute(delete(RosterStudent).where(RosterStudent.course == course))
    removed = session.execute(delete(RosterImport).where(RosterImport.course == course))
    if removed.rowcount:
        _bump(session)
        return True
    return False


def remove_member(session: Session, course: str, username: str) -> list[str]:
    """Take ``username`` out of the course's imported roster and drop their sign-in
    memberships of the course; returns where they were removed from (``import``, ``oidc``,
    ``lti``), empty if nowhere."""
    removed: list[str] = []
    gone = session.execute(
        delete(RosterStudent).where(
            RosterStudent.course == course, RosterStudent.username == username
        )
    )
    if gone.rowcount:
        removed.append("import")
    sources = session.scalars(
        select(IdpMembership.source).where(
            IdpMembership.course == course, IdpMembership.username == username
        )
    ).all()
    if sources:
        session.execute(
            delete(IdpMembership).where(
                IdpMembership.course == course, IdpMembership.username == username
            )
        )
        removed.extend(sorted(sources))
    if removed:
        _bump(session)
    return removed


def replace_memberships(
    session: Session,
    username: str,
    source: str,
    courses: Mapping[str, str],
    recorded_at: datetime,
) -> None:
    """Make ``courses`` ({course id: role}) the user's memberships from ``source``."""
    session.execute(
        delete(IdpMembership).where(
            IdpMembership.username == username, IdpMembership.source == source
        )
    )
    session.add_all(
        IdpMembership(
            username=username, source=source, course=course, role=role, recorded_at=recorded_at
        )
        for course, role in sorted(courses.items())
    )
    _bump(session)


def database_overlay_source(db: Database) -> OverlaySource:
    """The service's overlay source for its ``CatalogSync``: the rows, reloaded when the
    revision moved."""
    known: dict[str, int] = {}

    def work(session: Session) -> tuple[int, Overlay] | None:
        current = revision(session)
        if known.get("revision") == current:
            return None
        return current, load_overlay(session)

    async def fetch() -> Overlay | None:
        result = await db.run(work)
        if result is None:
            return None
        known["revision"], overlay = result
        return overlay

    return fetch
