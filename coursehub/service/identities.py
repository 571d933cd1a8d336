"""The identity store: which hub username each person (issuer + subject) has.

The hub asks at every sign-in (``POST /api/identities``, hub client only). The first time,
the person gets ``base_username`` of their e-mail or preferred name, or the first free
``-2``, ``-3``, ... after it; afterwards always the same name, even when their e-mail
changes. Two people never share a name: ``identities.username`` is unique, and a sign-in
that loses a race for a name takes the next one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from coursehub.hub.signin import base_username, merge_courses, next_free_username
from coursehub.service.db import Database
from coursehub.service.models import Base, UTCDateTime
from coursehub.service.rules import Refusal

ATTEMPTS = 20


class Identity(Base):
    """A person as an identity provider knows them (``issuer`` + ``subject``, stable at
    the provider) and the hub username coursehub gave them at their first sign-in, kept
    for good. ``courses`` (JSON ``{course: role}``) is what LTI launches from this
    identity said so far (each launch speaks of one course)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    courses: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Resolved:
    username: str
    created: bool
    courses: dict[str, str]

    def json(self) -> dict:
        return {"username": self.username, "created": self.created, "courses": self.courses}


def parse_request(body: object) -> dict:
    """The fields of a resolve request, or ``Refusal`` 400 naming what is wrong."""
    if not isinstance(body, dict):
        raise Refusal(400, "expected a JSON object with issuer, subject and preferred")
    issuer, subject = body.get("issuer"), body.get("subject")
    for name, value, limit in (("issuer", issuer, 500), ("subject", subject, 255)):
        if not isinstance(value, str) or not value or len(value) > limit:
            raise Refusal(400, f"'{name}' must be a non-empty string of at most {limit} chars")
    preferred = body.get("preferred")
    if preferred is not None and not isinstance(preferred, str):
        raise Refusal(400, "'preferred' must be a string or null")
    email = body.get("email")
    if email is not None and (not isinstance(email, str) or len(email) > 320):
        raise Refusal(400, "'email' must be a string of at most 320 characters or null")
    launch = body.get("launch")
    if launch is not None and (
        not isinstance(launch, dict)
        or not isinstance(launch.get("course"), str)
        or launch.get("role") not in ("staff", "student")
    ):
        raise Refusal(400, '\'launch\' must be {"course": id, "role": staff|student}')
    return {
        "issuer": issuer,
        "subject": subject,
        "preferred": preferred,
        "email": email,
        "launch": launch,
    }


def resolve_in(session: Session, request: dict, now: datetime) -> Resolved:
    """One attempt in one transaction (see ``resolve``)."""
    found = session.scalars(
        select(Identity).where(
            Identity.issuer == request["issuer"], Identity.subject == request["subject"]
        )
    ).one_or_none()
    created = found is None
    if found is None:
        base = base_username(request["preferred"], request["subject"])
        taken = session.scalars(
            select(Identity.username).where(
                or_(Identity.username == base, Identity.username.like(f"{base}-%"))
            )
        ).all()
        found = Identity(
            issuer=request["issuer"],
            subject=request["subject"],
            username=next_free_username(base, taken),
            courses="{}",
            created_at=now,
        )
        session.add(found)
    found.last_seen_at = now
    if request["email"]:
        found.email = request["email"]
    courses = json.loads(found.courses or "{}")
    launch = request["launch"]
    if launch:
        courses = merge_courses(courses, launch["course"], launch["role"])
        found.courses = json.dumps(courses)
    session.flush()
    return Resolved(found.username, created, courses)


async def resolve(db: Database, request: dict, now: datetime) -> Resolved:
    """The username of ``request``'s identity, created if new; retried when a concurrent
    sign-in took the same name (or created the same identity) first."""
    for attempt in range(ATTEMPTS):
        try:
            return await db.run(lambda session: resolve_in(session, request, now))
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
