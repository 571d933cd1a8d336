"""The loaded catalog and its problems: plain frozen data, no I/O.

``Catalog`` is what the hub reads (valid courses by id, lookups by user and by profile
slug); ``CatalogProblem`` is one thing wrong in one file, printable as
``file:line: field: message``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from coursehub.catalog.model import Course, Environment, profile_slug


class CatalogError(Exception):
    """The catalog cannot be read at all (its folder is missing or not a folder)."""


@dataclass(frozen=True)
class CatalogProblem:
    """One problem in one file.

    ``line`` is 1-based and points at the offending key, list item or roster row when it
    is known; ``field`` is a dotted path such as ``environments[0].gpu.count``.
    """

    path: Path
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else f"{self.path}"
        return f"{where}: {self.field}: {self.message}"

    def sort_key(self) -> tuple[str, int, str]:
        return (str(self.path), self.line or 0, self.field)


Role = Literal["staff", "student"]


@dataclass(frozen=True)
class Catalog:
    """The valid courses under ``root`` and every problem found there.

    Invalid courses are left out of ``courses``; their problems are in ``problems``.
    ``files`` lists every file the catalog was read from (course files and rosters,
    including named rosters that were missing), so a reloader can watch them.
    """

    root: Path
    courses: Mapping[str, Course]
    problems: tuple[CatalogProblem, ...] = ()
    files: tuple[Path, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        ordered = dict(sorted(self.courses.items()))
        object.__setattr__(self, "courses", MappingProxyType(ordered))
        object.__setattr__(
            self, "problems", tuple(sorted(self.problems, key=CatalogProblem.sort_key))
        )

    def memberships(self, username: str) -> list[tuple[Course, Role]]:
        """``(course, "staff" | "student")`` for every course the user belongs to, by id."""
        result: list[tuple[Course, Role]] = []
        for course in self.courses.values():
            role = course.role_of(username)
            if role is not None:
                result.append((course, role))
        return result

    def profile(self, slug: str) -> tuple[Course, Environment] | None:
        """The course and environment behind a profile slug such as ``ai-101-gpu``."""
        for course in self.courses.values():
            for environment in course.environments:
                if profile_slug(course, environment) == slug:
                    return course, environment
        return None

    def course_for_lti_context(self, context_id: str) -> Course | None:
        """The course an LTI 1.3 launch from this context goes to (``lti.context_ids``)."""
        for course in self.courses.values():
            if course.lti is not None and context_id in course.lti.context_ids:
                return course
        return None

    def usernames(self) -> set[str]:
        """Every staff member and student of any course."""
        names: set[str] = set()
        for course in self.courses.values():
            names.update(course.staff.all)
            names.update(course.students)
        return names
