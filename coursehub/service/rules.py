"""Who may do what, and which submission counts: pure functions, no I/O.

The caller comes from the hub's answer about a token (``Caller.from_hub_model``); the
course and its members from the catalog. A refusal is a ``Refusal`` carrying the HTTP status
and a sentence that names the caller, the course and what they lack.

Tokens (docs/auth.md, "Tokens the service accepts"): every request's token must carry
``access:services!service=<the service>`` (``require_service_access``), and staff or admin
powers need ``STAFF_SCOPE`` on the token as well as the role: the course staff roles and
the admins' group grant it, and the tokens notebook servers hold never carry it, so
neither a server's own token nor a token a staff member's visit left in a student's
server can act as staff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, TypeVar

from jupyterhub.services.auth import check_scopes

from coursehub.catalog import Catalog
from coursehub.catalog.model import Course
from coursehub.names import (
    HUB_CLIENT_SERVICE,
    STAFF_SCOPE,
    grader_service_name,
    service_access_scope,
)

Role = Literal["staff", "student"]
OWN_TOKEN_HELP = (
    "use a token of your own from the hub's Token page (for the coursehub command, in "
    "COURSEHUB_TOKEN)"
)


class Refusal(Exception):
    """``details``: more JSON for the error body (e.g. a roster's bad rows)."""

    def __init__(self, status: int, message: str, details: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or {}


@dataclass(frozen=True)
class Caller:
    """``admin``: may use platform admin powers (a hub admin whose token carries
    ``STAFF_SCOPE``); ``staff_scope``: the token carries ``STAFF_SCOPE``, without which
    nobody acts as staff; ``hub_admin``: the hub says admin, whatever the token (only to
    explain a refusal)."""

    name: str
    kind: Literal["user", "service"]
    admin: bool
    staff_scope: bool = False
    hub_admin: bool = False

    def __post_init__(self):
        if self.admin:  # admin powers are a hub admin's staff-scoped token
            object.__setattr__(self, "staff_scope", True)
            object.__setattr__(self, "hub_admin", True)

    @classmethod
    def from_hub_model(cls, model: dict) -> Caller:
        """A hub admin, or a token allowed to administer every user, is a platform admin
        when the token also carries ``STAFF_SCOPE`` (the hub reports ``admin: true`` for
        any token of an admin, even one made only to open a student's server)."""
        scopes = set(model.get("scopes") or ())
        hub_admin = bool(model.get("admin")) or "admin:users" in scopes
        staff_scope = bool(check_scopes(STAFF_SCOPE, scopes))
        kind = "service" if model.get("kind") == "service" else "user"
        return cls(
            name=model["name"],
            kind=kind,
            admin=hub_admin and staff_scope,
            staff_scope=staff_scope,
            hub_admin=hub_admin,
        )

    @property
    def is_hub(self) -> bool:
        return self.kind == "service" and self.name == HUB_CLIENT_SERVICE

    def __str__(self) -> str:
        return self.name if self.kind == "user" else f"service {self.name}"


def require_service_access(model: dict, service_name: str) -> None:
    """Refuse a token that was not given for calling this service: JupyterHub answers
    ``/hub/api/user`` for any token, e.g. the OAuth token of someone who opened a
    student's server, so the service must check the scope itself."""
    scope = service_access_scope(service_name)
    if not check_scopes(scope, set(model.get("scopes") or ())):
        raise Refusal(
            403,
            f"this token of {model.get('name')} may not call the {service_name} service "
            f"(it lacks {scope}): a token given to a notebook server or to another service, "
            f"such as one left by opening someone's server, is not accepted here; "
            f"{OWN_TOKEN_HELP}, or your own notebook server's token",
        )


def lacks_staff_scope(course: Course, caller: Caller) -> bool:
    """True when the catalog (or the hub's admin flag) would make the caller staff of the
    course but the token may not act as staff."""
    return not caller.staff_scope and _listed_role(course, caller) == "staff"


def staff_scope_refusal(caller: Caller, what: str) -> Refusal:
    return Refusal(
        403,
        f"{caller}'s token cannot {what}: it does not carry {STAFF_SCOPE}, which staff and "
        f"admin actions need and tokens of notebook servers never carry; {OWN_TOKEN_HELP}",
    )


def require_admin(caller: Caller, what: str) -> None:
    """Only platform admins (with a staff-scoped token) may ``what``."""
    if caller.admin:
        return
    if caller.hub_admin:
        raise staff_scope_refusal(caller, f"use admin powers ({what})")
    raise Refusal(403, f"{caller} is not an admin: only admins {what}")


def find_course(catalog: Catalog, course_id: str) -> Course:
    course = catalog.courses.get(course_id)
    if course is None:
        raise Refusal(404, f"there is no course {course_id!r}")
    return course


def _listed_role(course: Course, caller: Caller) -> Role | None:
    """The caller's role as the catalog and the hub's admin flag say, whatever the token."""
    if caller.admin or caller.hub_admin:
        return "staff"
    if caller.kind == "service":
        return "staff" if caller.name == grader_service_name(course.id) else None
    return course.role_of(caller.name)


def role_in(course: Course, caller: Caller) -> Role | None:
    """The role the caller's token may act in: staff powers need ``STAFF_SCOPE``."""
    role = _listed_role(course, caller)
    if role == "staff" and not caller.staff_scope:
        return None
    return role


def require_member(course: Course, caller: Caller) -> Role:
    role = role_in(course, caller)
    if role is None:
        if lacks_staff_scope(course, caller):
            raise staff_scope_refusal(caller, f"act as staff of {course.id}")
        raise Refusal(403, f"{caller} is not a member of {course.id}")
    return role


def require_staff(course: Course, caller: Caller) -> None:
    if role_in(course, caller) != "staff":
        if lacks_staff_scope(course, caller):
            raise staff_scope_refusal(caller, f"act as staff of {course.id}")
        raise Refusal(403, f"{caller} is not staff of {course.id}: only its staff may do this")


def require_student(course: Course, caller: Caller) -> None:
    """Only enrolled students submit (staff test the assignment with their own tools)."""
    if caller.kind != "user" or caller.name not in course.students:
        raise Refusal(403, f"{caller} is not a student of {course.id} and cannot submit to it")


def require_self_or_staff(course: Course, caller: Caller, student: str) -> Role:
    role = require_member(course, caller)
    if role == "student" and student != caller.name:
        raise Refusal(403, f"{caller} may only see their own work, not {student}'s")
    return role


def is_late(submitted_at: datetime, due: datetime | None) -> bool:
    return due is not None and submitted_at > due


class Versioned(Protocol):
    version: int
    submitted_at: datetime


V = TypeVar("V", bound=Versioned)


def choose_for_collection(versions: Sequence[V], due: datetime | None) -> V | None:
    """The collect rule: the latest version submitted at or before the due date; if none
    was on time, the latest version (which is then late)."""
    if not versions:
        return None
    ordered = sorted(versions, key=lambda item: item.version)
    on_time = [item for item in ordered if not is_late(item.submitted_at, due)]
    return (on_time or ordered)[-1]


def require_own_server(caller: Caller, scopes: frozenset[str], username: str, server: str) -> None:
    """A GPU telemetry report comes from the server it is about: the token must belong to
    ``username`` and reach that server (a server's own ``JUPYTERHUB_API_TOKEN`` carries
    ``access:servers!server=<user>/<server>``; the owner's own full token reaches all their
    servers). Anyone else, admins and services included, is refused: the ledger's used
    hours and idle times come only from the server's own reports."""
    label = f"{username}'s server {server!r}" if server else f"{username}'s default server"
    if caller.kind != "user" or caller.name != username:
        raise Refusal(
            403,
            f"{caller} may not report GPU telemetry for {label}: a server reports only for "
            "itself, with its own JUPYTERHUB_API_TOKEN",
        )
    bound = {f"access:servers!server={username}/{server}", f"access:servers!user={username}"}
    if not bound & scopes:
        raise Refusal(
            403,
            f"this token of {username} is not the token of {label}: GPU telemetry is "
            "accepted only with the server's own JUPYTERHUB_API_TOKEN",
        )
