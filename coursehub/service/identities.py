"""The identity store: which hub username each person (issuer + subject) has.

The hub asks at every sign-in (``POST /api/identities``, hub client only), passing what the
provider said: the e-mail and whether it is verified, the name made from the claims, the
names the hub reserves (admins, bindings) and the name a binding gives this identity.

The first time, the person gets a name by the rules of ``coursehub.service.usernames``:
reserved names (course files, rosters, the hub's list) only with proof, otherwise the
derived name or the first free ``-2``, ``-3``, ... after it, and a log line naming the
collision. Afterwards always the same name, even when their e-mail changes or the rules
would now choose another one. Two people never share a name: ``identities.username`` is
unique, and a sign-in that loses a race for a name takes the next one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from coursehub.catalog.model import USERNAME_PATTERN
from coursehub.service.db import Database
from coursehub.service.models import Base, UTCDateTime
from coursehub.service.rules import Refusal
from coursehub.service.usernames import (
    Choice,
    Newcomer,
    Reservations,
    choose,
    names_to_look_up,
)
from coursehub.signin.rules import base_username, merge_courses

ATTEMPTS = 20
DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
MAX_RESERVED = 10_000


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
    # How a new identity got its name (None for a known one).
    choice: Choice | None = None
    # A known identity whose binding names another name than the one it has.
    binding_ignored: str | None = None

    def json(self) -> dict:
        body = {"username": self.username, "created": self.created, "courses": self.courses}
        if self.choice is not None:
            body["proof"] = self.choice.proof
            body["collision"] = self.choice.collision
        return body


def _username(value: object, field: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(USERNAME_PATTERN, value):
        raise Refusal(400, f"'{field}' must be a username (lower case, as the catalog's)")
    return value


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
    email_verified = body.get("email_verified", False)
    if not isinstance(email_verified, bool):
        raise Refusal(400, "'email_verified' must be true or false")
    home_domain = body.get("home_domain")
    if home_domain is not None and (
        not isinstance(home_domain, str)
        or len(home_domain) > 253
        or not DOMAIN.fullmatch(home_domain)
    ):
        raise Refusal(400, "'home_domain' must be a lower-case domain such as uni.edu, or null")
    reserved = body.get("reserved", [])
    if not isinstance(reserved, list) or len(reserved) > MAX_RESERVED:
        raise Refusal(400, f"'reserved' must be a list of at most {MAX_RESERVED} usernames")
    reserved = [_username(name, "reserved") for name in reserved]
    bound = body.get("bound")
    if bound is not None:
        bound = _username(bound, "bound")
    launch = body.get("launch")
    if launch is not None and (
        not isinstance(launch, dict)
        or not isinstance(launch.get("course"), str)
        or launch.get("role") not in ("staff", "student")
    ):
        raise Refusal(400, '\'launch\' must be {"course": id, "role": staff|student}')
    if launch is not None and launch.get("lms") is not None:
        from coursehub.service.lms_links import parse_link

        launch = {**launch, "lms": parse_link(launch["lms"], issuer)}
    return {
        "issuer": issuer,
        "subject": subject,
        "preferred": preferred,
        "email": email,
        "email_verified": email_verified,
        "home_domain": home_domain,
        "reserved": reserved,
        "bound": bound,
        "launch": launch,
    }


def newcomer(request: dict) -> Newcomer:
    return Newcomer(
        issuer=request["issuer"],
        subject=request["subject"],
        email=request["email"],
        email_verified=request["email_verified"],
        bound=request["bound"],
    )


def resolve_in(session: Session, request: dict, reserved: Reservations, now: datetime) -> Resolved:
    """One attempt in one transaction (see ``resolve``)."""
    found = session.scalars(
        select(Identity).where(
            Identity.issuer == request["issuer"], Identity.subject == request["subject"]
        )
    ).one_or_none()
    created = found is None
    choice = None
    if found is None:
        person = newcomer(request)
        base = base_username(request["preferred"], request["subject"], request["home_domain"])
        wanted = names_to_look_up(person, base, reserved)
        taken = set(
            session.scalars(
                select(Identity.username).where(
                    or_(Identity.username.in_(wanted), Identity.username.like(f"{base}-%"))
                )
            )
        )
        choice = choose(person, base, reserved, taken)
        found = Identity(
            issuer=request["issuer"],
            subject=request["subject"],
            username=choice.username,
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
    ignored = None
    if not created and request["bound"] and request["bound"] != found.username:
        ignored = request["bound"]
    return Resolved(found.username, created, courses, choice, ignored)


async def resolve(db: Database, request: dict, reserved: Reservations, now: datetime) -> Resolved:
    """The username of ``request``'s identity, created if new; retried when a concurrent
    sign-in took the same name (or created the same identity) first."""
    for attempt in range(ATTEMPTS):
        try:
            return await db.run(lambda session: resolve_in(session, request, reserved, now))
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
