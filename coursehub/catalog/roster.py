"""Roster CSV files: parsing and row validation, shared by a course's roster file and by
roster imports (``coursehub roster import``): pure, no I/O.

A roster is UTF-8 CSV. The first line that is neither blank nor a ``#`` comment is the
header, naming columns from ``ROSTER_COLUMNS`` in any order (``username`` required); each
later row has one value per header column. ``read_roster(text)`` returns the good rows and
one ``RosterIssue`` per bad row (its 1-based CSV line, the field at fault and a sentence).

Callers may rely on: a header problem or invalid CSV gives a ``fatal`` issue and no rows
(nothing can be trusted); otherwise every row is either in ``rows`` or in ``issues``, never
both. A file without a header (blank or only comments) has ``has_header`` False and no
issue: a course's roster file may be empty, an import may not. ``decode_roster(data)``
turns uploaded bytes into text or raises ``RosterFileError`` naming the line of the first
byte that is not UTF-8.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from coursehub.catalog.catalog import Catalog
from coursehub.catalog.model import (
    EMAIL_PATTERN,
    MAX_EMAIL,
    PATTERN_HELP,
    USERNAME_PATTERN,
    Course,
)

ROSTER_COLUMNS = ("username", "email", "name")
EMAIL = re.compile(EMAIL_PATTERN)
MAX_NAME = 200
# Where the header itself is wrong: the issue is about the file, not one row.
HEADER = "(header)"
ROW = "(row)"
FILE = "(file)"


class RosterFileError(ValueError):
    """The roster cannot be read at all (not UTF-8); ``line`` where known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class RosterRow:
    line: int
    username: str
    email: str = ""
    name: str = ""


@dataclass(frozen=True)
class RosterIssue:
    """One bad row (or a bad file: ``field`` is ``(header)`` or ``(file)``)."""

    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        return f"{where}: {self.field}: {self.message}"


@dataclass
class RosterReading:
    rows: list[RosterRow] = field(default_factory=list)
    issues: list[RosterIssue] = field(default_factory=list)
    # A bad header or invalid CSV: no row can be trusted.
    fatal: bool = False
    # False for a file without a header line (blank, or only comments).
    has_header: bool = False

    @property
    def usernames(self) -> dict[str, int]:
        return {row.username: row.line for row in self.rows}


def decode_roster(data: bytes) -> str:
    """UTF-8 text (a leading byte-order mark, as spreadsheets write it, is dropped)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise RosterFileError(
            f"the file is not UTF-8 (byte 0x{data[error.start]:02x} on line {line}); "
            "save it from your spreadsheet as 'CSV UTF-8'",
            line,
        ) from None


def read_roster(text: str) -> RosterReading:
    """Parse roster CSV text: good rows in file order, one issue per bad row."""
    reading = RosterReading()

    def issue(line: int | None, where: str, message: str) -> None:
        reading.issues.append(RosterIssue(line, where, message))

    header: list[str] | None = None
    seen: dict[str, int] = {}
    reader = csv.reader(text.splitlines(keepends=True))
    next_line = 1
    try:
        for row in reader:
            line, next_line = next_line, reader.line_num + 1
            if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            cells = [cell.strip() for cell in row]
            if header is None:
                problem = header_problem(cells)
                if problem:
                    issue(line, HEADER, problem)
                    reading.fatal = True
                    return reading
                header = cells
                reading.has_header = True
                continue
            if len(cells) != len(header):
                issue(
                    line,
                    ROW,
                    f"{len(cells)} value(s) but the header has {len(header)} column(s) "
                    f"({','.join(header)}); quote values that contain commas",
                )
                continue
            record = dict(zip(header, cells, strict=True))
            where, message = row_problem(record, seen)
            if message:
                issue(line, where, message)
                continue
            seen[record["username"]] = line
            reading.rows.append(
                RosterRow(line, record["username"], record.get("email", ""), record.get("name", ""))
            )
    except csv.Error as exc:
        issue(next_line, FILE, f"not valid CSV: {exc}")
        reading.fatal = True
        reading.rows = []
    return reading


def header_problem(cells: list[str]) -> str | None:
    unknown = [c for c in cells if c not in ROSTER_COLUMNS]
    duplicated = sorted({c for c in cells if cells.count(c) > 1})
    if not unknown and not duplicated and "username" in cells:
        return None
    parts = []
    if unknown:
        parts.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
    if duplicated:
        parts.append(f"repeated column(s) {', '.join(map(repr, duplicated))}")
    if "username" not in cells:
        parts.append("no 'username' column")
    message = (
        f"bad header: {'; '.join(parts)}; the header names the columns, "
        f"from {', '.join(ROSTER_COLUMNS)} (username required)"
    )
    if not any(c in ROSTER_COLUMNS for c in cells):
        message += "; is the header line missing?"
    return message


def row_problem(record: dict[str, str], seen: dict[str, int]) -> tuple[str, str | None]:
    """``(field, message)`` of the first thing wrong with one row, message None if fine."""
    username = record["username"]
    email = record.get("email", "")
    name = record.get("name", "")
    if not username:
        return "username", "the username is empty"
    if not re.fullmatch(USERNAME_PATTERN, username):
        hint = (
            f"write {username.lower()!r}"
            if re.fullmatch(USERNAME_PATTERN, username.lower())
            else PATTERN_HELP[USERNAME_PATTERN]
        )
        return "username", f"username {username!r} is not valid: {hint}"
    if username in seen:
        return "username", f"username {username!r} is already listed on line {seen[username]}"
    if email and (len(email) > MAX_EMAIL or not EMAIL.fullmatch(email)):
        return "email", f"email {email!r} is not an email address"
    if len(name) > MAX_NAME:
        return "name", f"the name is {len(name)} characters long; at most {MAX_NAME}"
    return "", None


def staff_issues(
    course: Course, rows: list[RosterRow], privileged: Mapping[str, str] | None = None
) -> list[RosterIssue]:
    """Rows that list one of the course's staff (a user has one role per course), or a
    ``privileged`` user (username -> what they are, e.g. "staff of ml-201"): staff of any
    course and hub admins are never imported as students, since a course's staff may open
    its students' servers and so would hold what those servers hold."""
    privileged = privileged or {}
    issues = []
    for row in rows:
        if row.username in course.staff.instructors:
            kind = "an instructor"
        elif row.username in course.staff.tas:
            kind = "a TA"
        elif row.username in privileged:
            issues.append(
                RosterIssue(
                    row.line,
                    "username",
                    f"{row.username!r} is {privileged[row.username]}; staff of any course and "
                    "hub admins cannot be imported as students (a course's staff may open its "
                    "students' servers), so remove them from the roster",
                )
            )
            continue
        else:
            continue
        issues.append(
            RosterIssue(
                row.line,
                "username",
                f"{row.username!r} is {kind} of {course.id}; a user has one role in a course, "
                "so remove them from the roster (or from the course's staff)",
            )
        )
    return issues


def privileged_users(catalog: Catalog, admins: Iterable[str]) -> dict[str, str]:
    """Username -> what makes them privileged: staff of which courses, or a hub admin."""
    taught: dict[str, list[str]] = {}
    for course_id in sorted(catalog.courses):
        for username in catalog.courses[course_id].staff.all:
            taught.setdefault(username, []).append(course_id)
    found = {username: f"staff of {', '.join(ids)}" for username, ids in taught.items()}
    for username in admins:
        found[username] = (
            f"a hub admin and {found[username]}" if username in found else "a hub admin"
        )
    return found


MAX_SHOWN_ISSUES = 200


class RosterRejected(ValueError):
    """An import that must not be applied: ``message`` says why (every bad row, by line),
    ``issues`` lists them."""

    def __init__(self, message: str, issues: list[RosterIssue] | None = None):
        super().__init__(message)
        self.message = message
        self.issues = issues or []


def issue_lines(issues: list[RosterIssue], limit: int = MAX_SHOWN_ISSUES) -> str:
    lines = [f"  {issue}" for issue in issues[:limit]]
    if len(issues) > limit:
        lines.append(f"  ... and {len(issues) - limit} more")
    return "\n".join(lines)


def check_import(
    course: Course,
    data: bytes,
    skip_invalid: bool = False,
    privileged: Mapping[str, str] | None = None,
) -> tuple[list[RosterRow], list[RosterIssue]]:
    """Validate an uploaded roster for ``course``: ``(rows to apply, rows skipped)``.
    ``privileged`` (``privileged_users``): users who may not be imported as students.

    Raises ``RosterRejected`` for a file that cannot be used at all (not UTF-8, empty, bad
    header, invalid CSV), for any bad row unless ``skip_invalid``, and when no valid row
    is left (an import replaces every student, so an empty one is surely a mistake)."""
    prefix = f"{course.id} roster"
    try:
        reading = read_roster(decode_roster(data))
    except RosterFileError as error:
        raise RosterRejected(f"{prefix}: {error.message}; nothing was applied") from None
    if reading.fatal:
        raise RosterRejected(f"{prefix}: {reading.issues[0]}; nothing was applied", reading.issues)
    if not reading.has_header:
        raise RosterRejected(
            f"{prefix}: the file is empty; it needs a header line naming the columns "
            f"({','.join(ROSTER_COLUMNS)}), then one row per student; nothing was applied"
        )
    rejected = staff_issues(course, reading.rows, privileged)
    rejected_lines = {issue.line for issue in rejected}
    rows = [row for row in reading.rows if row.line not in rejected_lines]
    issues = sorted(reading.issues + rejected, key=lambda issue: issue.line or 0)
    if issues and not skip_invalid:
        raise RosterRejected(
            f"{prefix}: {len(issues)} invalid row(s); nothing was applied (fix them, or "
            "import the valid rows only with --skip-invalid):\n" + issue_lines(issues),
            issues,
        )
    if not rows:
        raise RosterRejected(
            f"{prefix}: no valid student rows, so nothing was applied (an import replaces "
            "the course's students; `coursehub roster clear` goes back to the course "
            "file's roster)",
            issues,
        )
    return rows, issues
