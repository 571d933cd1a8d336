"""Which LMS each course is launched from, for grade passback.

At every LTI launch the hub passes the launch's platform (issuer, client id, deployment)
and its AGS claim (the line items URL, the scopes) with the identity request
(``launch.lms``; ``parse_link`` checks it); the newest launch of a course wins
(``record``). The scores sent are remembered per student and assignment
(``sent_scores``, ``remember_sent``) so a push sends only what changed. Each student's LTI
``sub`` at that issuer is in the identity store (``subjects``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from coursehub.service.identities import Identity
from coursehub.service.models import LMSLink, LMSScore
from coursehub.service.rules import Refusal


@dataclass(frozen=True)
class Link:
    issuer: str
    client_id: str
    deployment_id: str
    lineitems_url: str
    scopes: tuple[str, ...]


def _text(value: object, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise Refusal(400, f"'launch.lms.{name}' must be a non-empty string of at most {limit}")
    return value


def parse_link(value: object, issuer: str) -> Link | None:
    """The ``launch.lms`` of an identity request (None: the launch had no AGS claim), or a
    ``Refusal`` 400 naming the field."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Refusal(
            400, "'launch.lms' must be an object with client_id, deployment_id, lineitems"
        )
    lineitems = _text(value.get("lineitems"), "lineitems", 2000)
    if urlparse(lineitems).scheme not in ("http", "https"):
        raise Refusal(400, "'launch.lms.lineitems' must be an http(s) URL")
    scopes = value.get("scopes", [])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise Refusal(400, "'launch.lms.scopes' must be a list of strings")
    return Link(
        issuer=issuer,
        client_id=_text(value.get("client_id"), "client_id", 255),
        deployment_id=_text(value.get("deployment_id"), "deployment_id", 255),
        lineitems_url=lineitems,
        scopes=tuple(scopes),
    )


def record(session: Session, course: str, link: Link, now: datetime) -> None:
    row = session.get(LMSLink, course)
    if row is None:
        row = LMSLink(course=course)
        session.add(row)
    row.issuer = link.issuer
    row.client_id = link.client_id
    row.deployment_id = link.deployment_id
    row.lineitems_url = link.lineitems_url
    row.scopes = json.dumps(list(link.scopes))
    row.updated_at = now


def link_of(session: Session, course: str) -> Link | None:
    row = session.get(LMSLink, course)
    if row is None:
        return None
    return Link(
        row.issuer,
        row.client_id,
        row.deployment_id,
        row.lineitems_url,
        tuple(json.loads(row.scopes or "[]")),
    )


def subjects(session: Session, issuer: str, usernames: list[str]) -> dict[str, str]:
    """username -> LTI ``sub`` at ``issuer``, for those who launched from it."""
    rows = session.scalars(
        select(Identity).where(Identity.issuer == issuer, Identity.username.in_(usernames))
    )
    return {row.username: row.subject for row in rows}


def sent_scores(session: Session, course: str, assignment: str) -> dict[str, LMSScore]:
    rows = session.scalars(
        select(LMSScore).where(LMSScore.course == course, LMSScore.assignment == assignment)
    )
    return {row.student: row for row in rows}


def remember_sent(
    session: Session,
    course: str,
    assignment: str,
    student: str,
    lineitem_url: str,
    score: float,
    max_score: float,
    sent_by: str,
    now: datetime,
) -> None:
    row = session.scalars(
        select(LMSScore).where(
            LMSScore.course == course,
            LMSScore.assignment == assignment,
            LMSScore.student == student,
        )
    ).first()
    if row is None:
        row = LMSScore(course=course, assignment=assignment, student=student)
        session.add(row)
    row.lineitem_url = lineitem_url
    row.score = score
    row.max_score = max_score
    row.sent_by = sent_by
    row.sent_at = now
