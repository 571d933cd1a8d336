"""Who may do what, and which submission counts: pure functions, no I/O.

The caller comes from the hub's answer about a token (``Caller.from_hub_model``); the
course and its members from the catalog. A refusal is a ``Refusal`` carrying the HTTP status
and a sentence that names the caller, the course and what they lack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, TypeVar

from coursehub.catalog import Catalog
from coursehub.catalog.model import Course

Role = Literal["staff", "student"]
GRADER_SERVICE_PREFIX = "grader-"
# The hub process's own identity towards the service (GPU admission, ledger, rosters).
HUB_CLIENT_SERVICE = "coursehub-hub"


class Refusal(Exception):
    """``details``: more JSON for the error body (e.g. a roster's bad rows)."""

    def __init__(self, status: int, message: str, details: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or {}


@dataclass(frozen=True)
class Caller:
    name: str
    kind: Literal["user", "service"]
    admin: bool

    @classmethod
    def from_hub_model(cls, model: dict) -> Caller:
        """A hub admin, or a token allowed to administer every user, is a platform admin."""
        scopes = set(model.get("scopes") or ())
        admin = bool(model.get("admin")) or "admin:users" in scopes
        kind = "service" if model.get("kind") == "service" else "user"
        return cls(name=model["name"], kind=kind, admin=admin)

    @property
    def is_hub(self) -> bool:
        return self.kind == "service" and self.name == HUB_CLIENT_SERVICE

    def __str__(self) -> str:
        return self.name if self.kind == "user" else f"service {self.name}"


def grader_service_name(course_id: str) -> str:
    """The JupyterHub service that runs a course's formgrader; it acts as course staff."""
    return f"{GRADER_SERVICE_PREFIX}{course_id}"


def find_course(catalog: Catalog, course_id: str) -> Course:
    course = catalog.courses.get(course_id)
    if course is None:
        raise Refusal(404, f"there is no course {course_id!r}")
    return course


def role_in(course: Course, caller: Caller) -> Role | None:
    if caller.admin:
        return "staff"
    if caller.kind == "service":
        return "staff" if caller.name == grader_service_name(course.id) else None
    return course.role_of(caller.name)


def require_member(course: Course, caller: Caller) -> Role:
    role = role_in(course, caller)
    if role is None:
        raise Refusal(403, f"{caller} is not a member of {course.id}")
    return role


def require_staff(course: Course, caller: Caller) -> None:
    if role_in(course, caller) != "staff":
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
