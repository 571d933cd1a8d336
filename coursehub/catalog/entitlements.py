"""Which environments of the catalog a user may start: pure functions, no I/O.

A user may start the environments of the courses they belong to (students and staff
alike); admins may start every course's environments, as staff. The hub turns these into
KubeSpawner profiles and refuses a spawn request for anything else
(``coursehub.hub.profiles``, ``coursehub.hub.spawner``); the service's GPU enforcer uses
the same rule to tell which environment a server without a named profile runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from coursehub.catalog.catalog import Catalog
from coursehub.catalog.model import Course, Environment, profile_slug

Role = Literal["staff", "student"]


@dataclass(frozen=True)
class Entitlement:
    """One environment a user may start, and in which role."""

    course: Course
    environment: Environment
    role: Role

    @property
    def slug(self) -> str:
        return profile_slug(self.course, self.environment)


class ProfileRefused(Exception):
    """A spawn request for a profile the user may not use.

    ``status`` is the HTTP status to answer with (403 or 400); ``message`` is a full
    sentence for the user.
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def entitlements(catalog: Catalog, username: str, is_admin: bool) -> list[Entitlement]:
    """Every environment ``username`` may start; admins get every course as staff."""
    result = []
    for course_id in sorted(catalog.courses):
        course = catalog.courses[course_id]
        role = course.role_of(username)
        if role is None and is_admin:
            role = "staff"
        if role is None:
            continue
        result.extend(Entitlement(course, env, role) for env in course.environments)
    return result


def marked_default(allowed: Sequence[Entitlement]) -> Entitlement | None:
    """The entitlement started when none is named: the first whose environment is marked
    ``default`` (courses by id, environments in catalog order; a course without one
    contributes none), or None when none is marked (KubeSpawner then starts the first)."""
    return next((item for item in allowed if item.environment.default), None)


def resolve_profile(
    catalog: Catalog, username: str, is_admin: bool, slug: str | None
) -> Entitlement:
    """The entitlement a spawn request for ``slug`` uses, or ``ProfileRefused``.

    An empty slug means the user's default profile (as KubeSpawner picks it).
    """
    allowed = entitlements(catalog, username, is_admin)
    if not slug:
        if not allowed:
            raise ProfileRefused(
                403,
                f"{username} is not enrolled in any course, so there is no environment to "
                "start. Ask your instructor to add you to the course roster.",
            )
        return marked_default(allowed) or allowed[0]
    for item in allowed:
        if item.slug == slug:
            return item
    yours = _list_slugs(item.slug for item in allowed)
    owner = catalog.profile(slug)
    if owner is not None:
        course, _env = owner
        raise ProfileRefused(
            403,
            f"You are not enrolled in {course.id} ({course.title}), so you cannot start its "
            f"environment {slug!r}. Environments you may start: {yours}.",
        )
    raise ProfileRefused(
        400, f"There is no environment {slug!r}. Environments you may start: {yours}."
    )


def _list_slugs(slugs: Iterable[str]) -> str:
    listed = ", ".join(slugs)
    return listed or "none (you are not enrolled in any course)"
