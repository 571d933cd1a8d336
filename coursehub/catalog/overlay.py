"""Course membership from outside the course files, and the effective catalog: pure.

Two sources add to what ``course.yaml`` and its roster file say (the coursehub service
keeps both in its SQL database):

- an *imported roster* of a course (``coursehub roster import``) replaces the course's
  students from its files, for as long as it is present;
- *identity-provider memberships* (OIDC or LTI sign-in) make a user a student or staff of a
  course, on top of the files and of any imported roster.

``with_memberships(catalog, overlay)`` is the catalog everyone reads (hub and service): the
file catalog with the overlay applied. Rules: a user has one role per course and staff
wins (a staff member from any source is never also a student); members from sign-in who are
staff join the course's TAs (instructors and TAs have the same rights); overlay entries for
courses that are not in the catalog (removed, or invalid right now) are ignored until the
course is back. ``Overlay`` travels as JSON between the service and the hub
(``to_json``/``from_json``) and compares by value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from coursehub.catalog.catalog import Catalog
from coursehub.catalog.model import Course

Role = Literal["student", "staff"]
ROLES = ("student", "staff")
IDP_SOURCES = ("oidc", "lti")


class OverlayError(ValueError):
    """An overlay in JSON that does not have the expected shape."""


@dataclass(frozen=True)
class RosterEntry:
    username: str
    email: str = ""
    name: str = ""


@dataclass(frozen=True)
class ImportedRoster:
    """A course's imported students, in the order of the file, and who imported them when
    (``imported_at``: ISO 8601, UTC)."""

    course: str
    entries: tuple[RosterEntry, ...]
    imported_by: str
    imported_at: str

    @property
    def usernames(self) -> list[str]:
        return [entry.username for entry in self.entries]


@dataclass(frozen=True)
class Membership:
    """One course membership recorded at sign-in by an identity provider."""

    username: str
    source: str
    course: str
    role: Role


@dataclass(frozen=True)
class Overlay:
    rosters: tuple[ImportedRoster, ...] = ()
    memberships: tuple[Membership, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "rosters", tuple(sorted(self.rosters, key=lambda r: r.course)))
        object.__setattr__(
            self,
            "memberships",
            tuple(sorted(self.memberships, key=lambda m: (m.course, m.username, m.source, m.role))),
        )

    @cached_property
    def _by_course(self) -> dict[str, ImportedRoster]:
        return {roster.course: roster for roster in self.rosters}

    def roster(self, course_id: str) -> ImportedRoster | None:
        return self._by_course.get(course_id)

    @cached_property
    def _members(self) -> dict[tuple[str, str], list[str]]:
        index: dict[tuple[str, str], set[str]] = {}
        for m in self.memberships:
            index.setdefault((m.course, m.role), set()).add(m.username)
        return {key: sorted(names) for key, names in index.items()}

    def members(self, course_id: str, role: Role) -> list[str]:
        """Usernames with ``role`` in the course from sign-in, sorted, each once."""
        return list(self._members.get((course_id, role), ()))

    def usernames_only(self) -> Overlay:
        """The same memberships without emails and names (what the hub needs)."""
        return Overlay(
            tuple(
                ImportedRoster(
                    roster.course,
                    tuple(RosterEntry(entry.username) for entry in roster.entries),
                    roster.imported_by,
                    roster.imported_at,
                )
                for roster in self.rosters
            ),
            self.memberships,
        )

    def __bool__(self) -> bool:
        return bool(self.rosters or self.memberships)

    def to_json(self) -> dict[str, Any]:
        return {
            "rosters": {
                roster.course: {
                    "imported_by": roster.imported_by,
                    "imported_at": roster.imported_at,
                    "students": [
                        {"username": e.username, "email": e.email, "name": e.name}
                        for e in roster.entries
                    ],
                }
                for roster in self.rosters
            },
            "memberships": [
                {"username": m.username, "source": m.source, "course": m.course, "role": m.role}
                for m in self.memberships
            ],
        }

    @classmethod
    def from_json(cls, data: Any) -> Overlay:
        try:
            rosters = [
                ImportedRoster(
                    course=str(course),
                    entries=tuple(
                        RosterEntry(
                            str(item["username"]),
                            str(item.get("email") or ""),
                            str(item.get("name") or ""),
                        )
                        for item in body["students"]
                    ),
                    imported_by=str(body["imported_by"]),
                    imported_at=str(body["imported_at"]),
                )
                for course, body in data["rosters"].items()
            ]
            memberships = [
                Membership(
                    str(item["username"]), str(item["source"]), str(item["course"]), item["role"]
                )
                for item in data["memberships"]
            ]
        except (KeyError, TypeError, AttributeError) as error:
            raise OverlayError(f"not a membership overlay: {error!r}") from None
        for membership in memberships:
            if membership.role not in ROLES:
                raise OverlayError(f"unknown role {membership.role!r}")
        return cls(tuple(rosters), tuple(memberships))


EMPTY = Overlay()


def effective_course(course: Course, overlay: Overlay) -> Course:
    """One course with the overlay applied (the same object when nothing changes)."""
    roster = overlay.roster(course.id)
    students = roster.usernames if roster is not None else list(course.students)
    extra_staff = overlay.members(course.id, "staff")
    staff = set(course.staff.all) | set(extra_staff)
    students = [
        name
        for name in dict.fromkeys([*students, *overlay.members(course.id, "student")])
        if name not in staff
    ]
    new_tas = [name for name in extra_staff if name not in course.staff.all]
    if students == course.students and not new_tas:
        return course
    update: dict[str, Any] = {"students": students}
    if new_tas:
        update["staff"] = course.staff.model_copy(update={"tas": [*course.staff.tas, *new_tas]})
    return course.model_copy(update=update)


def with_memberships(catalog: Catalog, overlay: Overlay) -> Catalog:
    """The effective catalog: ``catalog`` (from the course files) with ``overlay`` applied.
    Problems and watched files stay those of the file catalog."""
    if not overlay:
        return catalog
    courses = {cid: effective_course(course, overlay) for cid, course in catalog.courses.items()}
    return Catalog(
        root=catalog.root, courses=courses, problems=catalog.problems, files=catalog.files
    )


def unknown_courses(catalog: Catalog, course_ids: Iterable[str]) -> list[str]:
    return sorted(set(course_ids) - set(catalog.courses))


def roles_of(catalog: Catalog, username: str) -> dict[str, Role]:
    """``{course id: role}`` of one user in a catalog."""
    return {course.id: role for course, role in catalog.memberships(username)}


def membership_changes(
    before: Mapping[str, Course], after: Mapping[str, Course], course_id: str
) -> dict[str, list[str]]:
    """Students ``added``, ``removed`` and ``unchanged`` in one course between two catalogs'
    courses (sorted)."""
    old = set(before[course_id].students) if course_id in before else set()
    new = set(after[course_id].students) if course_id in after else set()
    return {
        "added": sorted(new - old),
        "removed": sorted(old - new),
        "unchanged": sorted(old & new),
    }


__all__ = [
    "EMPTY",
    "IDP_SOURCES",
    "ImportedRoster",
    "Membership",
    "Overlay",
    "OverlayError",
    "RosterEntry",
    "effective_course",
    "membership_changes",
    "roles_of",
    "unknown_courses",
    "with_memberships",
]
