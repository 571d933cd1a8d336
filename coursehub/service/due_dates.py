"""Extensions and each student's effective due date: pure rules, no I/O.

An extension gives one student of a course either a new due date for one assignment
(``until``) or extra minutes (``minutes``) on one assignment, or on every assignment of the
course (``assignment`` None: an accommodation). The effective due date of a student is the
course file's due date moved by their extensions: a new date for the assignment wins over
extra minutes (the newest such date when there are several), otherwise the extra minutes of
the assignment's own and the course-wide extensions add up. An assignment without a due date
stays without one: nothing is late there.

``StudentDues`` answers "which due date counts for this student" for one assignment; the
collect rule, ``late`` flags, ``assignment status``, the grades export and the gradebook's
late penalty all ask it (``rules.is_late`` against ``dues.of(student)``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from coursehub.service.rules import Refusal

MAX_MINUTES = 60 * 24 * 365  # a year of extra time is surely a typo
MAX_REASON = 2000


@dataclass(frozen=True)
class Grant:
    """One extension as the rules need it (``extensions.Extension`` rows convert)."""

    student: str
    assignment: str | None  # None: every assignment of the course
    until: datetime | None = None
    minutes: int | None = None

    def applies_to(self, assignment: str) -> bool:
        return self.assignment is None or self.assignment == assignment


def effective_due(
    base: datetime | None, grants: Iterable[Grant], assignment: str
) -> datetime | None:
    """``base`` (the course file's due date) as ``grants`` (one student's) move it."""
    if base is None:
        return None
    relevant = [grant for grant in grants if grant.applies_to(assignment)]
    dates = [grant.until for grant in relevant if grant.until is not None]
    if dates:
        return max(dates)
    minutes = sum(grant.minutes or 0 for grant in relevant)
    return base + timedelta(minutes=minutes)


@dataclass(frozen=True)
class StudentDues:
    """The due dates of one assignment per student: the course's, moved for students with
    extensions."""

    base: datetime | None
    moved: dict[str, datetime | None] = field(default_factory=dict)

    def of(self, student: str) -> datetime | None:
        return self.moved.get(student, self.base)

    def extension_of(self, student: str) -> timedelta | None:
        """How much later than the course's due date the student's is (None: not moved)."""
        if student not in self.moved or self.base is None:
            return None
        return self.moved[student] - self.base

    @classmethod
    def build(cls, base: datetime | None, assignment: str, grants: Iterable[Grant]) -> StudentDues:
        by_student: dict[str, list[Grant]] = {}
        for grant in grants:
            if grant.applies_to(assignment):
                by_student.setdefault(grant.student, []).append(grant)
        moved = {
            student: effective_due(base, own, assignment) for student, own in by_student.items()
        }
        return cls(base, {student: due for student, due in moved.items() if due != base})


@dataclass(frozen=True)
class GrantRequest:
    """A checked request to grant an extension (``parse_grant``)."""

    student: str
    assignment: str | None
    until: datetime | None
    minutes: int | None
    reason: str


def parse_grant(body: object, all_assignments: bool) -> GrantRequest:
    """The fields of ``POST …/extensions`` or ``POST …/assignments/A/extensions``, or a
    ``Refusal`` 400 naming the field at fault. ``all_assignments``: the course-wide form,
    which only takes ``minutes``."""
    if not isinstance(body, dict):
        raise Refusal(400, "expected a JSON object with student, until or minutes, and reason")
    unknown = sorted(set(body) - {"student", "until", "minutes", "reason"})
    if unknown:
        raise Refusal(
            400, f"unknown field(s) {', '.join(unknown)}: student, until, minutes, reason"
        )
    student = body.get("student")
    if not isinstance(student, str) or not student:
        raise Refusal(400, "'student' must be the student's username")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise Refusal(400, "'reason' is required: say why the extension is granted")
    if len(reason) > MAX_REASON:
        raise Refusal(400, f"'reason' is longer than {MAX_REASON} characters")
    until, minutes = body.get("until"), body.get("minutes")
    if (until is None) == (minutes is None):
        raise Refusal(400, "give exactly one of 'until' (a new due date) and 'minutes'")
    if until is not None and all_assignments:
        raise Refusal(
            400, "'until' is for one assignment; for all assignments give extra 'minutes'"
        )
    if until is not None:
        until = parse_time(until, "until")
    if minutes is not None and (
        isinstance(minutes, bool) or not isinstance(minutes, int) or not 0 < minutes <= MAX_MINUTES
    ):
        raise Refusal(400, f"'minutes' must be a whole number from 1 to {MAX_MINUTES}")
    return GrantRequest(student, None, until, minutes, reason.strip())


def parse_time(value: object, name: str) -> datetime:
    """An ISO 8601 time with its UTC offset (``2026-12-01T23:59:00+01:00``), as UTC."""
    if not isinstance(value, str):
        raise Refusal(400, f"'{name}' must be an ISO 8601 time such as 2026-12-01T23:59:00Z")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Refusal(
            400, f"'{name}' {value!r} is not an ISO 8601 time such as 2026-12-01T23:59:00Z"
        ) from None
    if moment.tzinfo is None:
        raise Refusal(
            400, f"'{name}' {value!r} has no UTC offset: add Z or +01:00, so it is unambiguous"
        )
    return moment.astimezone(UTC)
