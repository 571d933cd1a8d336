"""Read course folders into a ``Catalog``, reporting every problem with file and line.

Layout: ``<root>/<course-id>/course.yaml``, optionally with a roster CSV beside it
(``students: {roster: roster.csv}``). The only I/O here is reading those files.

Callers may rely on: ``load_course`` and ``load_catalog`` never raise for a bad course
(they return problems instead); ``load_catalog`` raises ``CatalogError`` only when the
root folder is missing or not a folder. Several problems in one file are all reported.
"""

from __future__ import annotations

import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from coursehub.catalog.catalog import Catalog, CatalogError, CatalogProblem
from coursehub.catalog.model import (
    PATTERN_HELP,
    SKIP_CONSISTENCY,
    Course,
    Loc,
    consistency_issues,
    loc_text,
    profile_slug,
)
from coursehub.catalog.roster import ROSTER_COLUMNS, RosterReading, read_roster

COURSE_FILE = "course.yaml"


@dataclass
class _CourseFile:
    """One course.yaml as read: the course (None if invalid) and what the catalog needs
    for checks across courses."""

    path: Path
    course: Course | None = None
    problems: list[CatalogProblem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    tree: Any = None
    raw_id: str | None = None
    # The roster file's addresses: username -> (email, CSV line).
    roster_emails: dict[str, tuple[str, int]] = field(default_factory=dict)

    def problem(self, line: int | None, where: str, message: str) -> None:
        self.problems.append(CatalogProblem(self.path, line, where, message))

    def line_of(self, loc: Loc) -> int | None:
        return line_of(self.tree, loc)


def load_course(path: Path) -> tuple[Course | None, list[CatalogProblem]]:
    """Read one course.yaml (and its roster). Returns the course, or None with the
    problems that make it invalid; the folder name must equal the course id."""
    loaded = _load_course_file(Path(path))
    return loaded.course, loaded.problems


def load_catalog(root: Path) -> Catalog:
    """Read every ``<root>/<folder>/course.yaml``. Invalid courses are left out and their
    problems listed; so are courses whose id or profile slugs clash with another course
    (the course with the later id or path is the one left out)."""
    root = Path(root)
    if not root.is_dir():
        raise CatalogError(
            f"course catalog folder {root} does not exist"
            if not root.exists()
            else f"course catalog path {root} is not a folder"
        )
    loaded: list[_CourseFile] = []
    problems: list[CatalogProblem] = []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name.startswith((".", "_")):
            continue
        course_file = folder / COURSE_FILE
        if course_file.is_file():
            loaded.append(_load_course_file(course_file))
        elif (folder / "course.yml").is_file():
            problems.append(
                CatalogProblem(
                    folder / "course.yml", None, "(file)", f"rename this file to {COURSE_FILE}"
                )
            )
    _reject_duplicate_ids(loaded)
    _reject_shared_lti_contexts(loaded)
    _reject_profile_collisions(loaded)
    courses: dict[str, Course] = {}
    files: list[Path] = []
    for item in loaded:
        problems.extend(item.problems)
        files.extend(item.files)
        if item.course is not None and not item.problems:
            courses[item.course.id] = item.course
    return Catalog(root=root, courses=courses, problems=tuple(problems), files=tuple(files))


# ---------------------------------------------------------------------------------------
# One course file


def _load_course_file(path: Path) -> _CourseFile:
    loaded = _CourseFile(path=path, files=[path])
    tree = _read_yaml(loaded)
    if tree is None:
        return loaded
    loaded.tree = tree
    data = to_plain(tree)
    if isinstance(data.get("id"), str):
        loaded.raw_id = data["id"]
        folder = path.absolute().parent.name
        if data["id"] != folder:
            loaded.problem(
                loaded.line_of(("id",)),
                "id",
                f"id {data['id']!r} does not match its folder {folder!r}; "
                "rename the folder or change the id",
            )
    roster_lines = _resolve_students(loaded, data)
    _add_roster_emails(loaded, data)

    try:
        course = Course.model_validate(data, context={SKIP_CONSISTENCY: True})
    except ValidationError as exc:
        course = None
        for error in exc.errors():
            loaded.problems.append(_problem_from_error(loaded, error, roster_lines))
    for loc, message in consistency_issues(data):
        if roster_lines is not None and loc[0] == "staff":
            username = data["staff"][loc[1]][loc[2]]
            if username in roster_lines:
                message += f" (the roster lists them on line {roster_lines[username]})"
        if (
            loc[0] == "emails"
            and not _written_in_file(loaded.tree, loc)
            and loc[1] in loaded.roster_emails
        ):
            # An address from the roster file: point at its row.
            line = loaded.roster_emails[loc[1]][1]
            loaded.problems.append(
                CatalogProblem(loaded.files[-1], line, f"students (roster row {line})", message)
            )
            continue
        loaded.problem(loaded.line_of(loc), loc_text(loc), message)
    loaded.course = course if not loaded.problems else None
    return loaded


def _read_yaml(loaded: _CourseFile) -> CommentedMap | None:
    try:
        text = loaded.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        loaded.problem(None, "(file)", f"cannot read the file: {exc}")
        return None
    try:
        tree = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = " ".join(part for part in (exc.context, exc.problem) if part)
        loaded.problem(mark.line + 1 if mark else None, "(YAML syntax)", detail or str(exc))
        return None
    if tree is None:
        loaded.problem(
            None, "(file)", "the file is empty; a course needs id, title, term and environments"
        )
        return None
    if not isinstance(tree, CommentedMap):
        loaded.problem(
            1,
            "(file)",
            f"a course file is a mapping of keys (id, title, ...), not a {type(tree).__name__}",
        )
        return None
    return tree


def _resolve_students(loaded: _CourseFile, data: dict) -> dict[str, int] | None:
    """Replace ``students: {roster: file}`` in ``data`` by the roster's usernames.

    Returns ``{username: line}`` for a roster, None for an inline list."""
    students = data.get("students")
    if not isinstance(students, dict):
        return None
    for key in students:
        if key != "roster":
            loaded.problem(
                loaded.line_of(("students", key)),
                f"students.{key}",
                f"unknown key {key!r}; students is a list of usernames or {{roster: roster.csv}}",
            )
    data["students"] = []
    name = students.get("roster")
    where = ("students", "roster")
    if not isinstance(name, str) or not name.strip():
        loaded.problem(
            loaded.line_of(where) or loaded.line_of(("students",)),
            "students.roster",
            "name the roster CSV file beside course.yaml, e.g. roster: roster.csv",
        )
        return {}
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        loaded.problem(
            loaded.line_of(where),
            "students.roster",
            f"{name!r} must be a file inside the course folder, e.g. roster.csv",
        )
        return {}
    roster_path = loaded.path.parent / relative
    loaded.files.append(roster_path)
    try:
        text = roster_path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        loaded.problem(
            loaded.line_of(where), "students.roster", f"roster file {roster_path} does not exist"
        )
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        loaded.problem(
            loaded.line_of(where), "students.roster", f"cannot read roster {roster_path}: {exc}"
        )
        return {}
    reading, problems = _read_roster_file(text, roster_path)
    loaded.problems.extend(problems)
    data["students"] = list(reading.usernames)
    loaded.roster_emails = {
        row.username: (row.email, row.line) for row in reading.rows if row.email
    }
    return reading.usernames


def _add_roster_emails(loaded: _CourseFile, data: dict) -> None:
    """Put the roster file's addresses into ``data["emails"]``; an address ``emails`` gives
    for the same student must be the same one (ignoring case)."""
    if not loaded.roster_emails:
        return
    emails = data.setdefault("emails", {})
    if not isinstance(emails, dict):
        return  # the model reports the wrong type
    roster = loaded.files[-1]
    for username, (email, line) in loaded.roster_emails.items():
        given = emails.get(username)
        if given is None:
            emails[username] = email
        elif not isinstance(given, str) or given.lower() != email.lower():
            loc = ("emails", username)
            loaded.problem(
                loaded.line_of(loc),
                loc_text(loc),
                f"{given!r} differs from the address {roster.name} gives on line {line} "
                f"({email!r}); give one address",
            )


def _written_in_file(tree: Any, loc: Loc) -> bool:
    """Is ``("emails", username)`` an entry of course.yaml itself (not from the roster)?"""
    section = tree.get(loc[0]) if isinstance(tree, dict) else None
    return isinstance(section, dict) and loc[1] in section


def _read_roster_file(text: str, path: Path) -> tuple[RosterReading, list[CatalogProblem]]:
    reading = read_roster(text)
    problems = [
        CatalogProblem(path, issue.line, f"students (roster row {issue.line})", issue.message)
        for issue in reading.issues
    ]
    return reading, problems


def parse_roster(text: str, path: Path) -> tuple[dict[str, int], list[CatalogProblem]]:
    """Parse roster CSV text (see ``coursehub.catalog.roster``). Returns ``{username: line}``
    for the good rows, in file order, and a problem per bad row (1-based CSV line)."""
    reading, problems = _read_roster_file(text, path)
    return reading.usernames, problems


# ---------------------------------------------------------------------------------------
# Turning pydantic errors into problems


def _problem_from_error(
    loaded: _CourseFile, error: Any, roster_lines: dict[str, int] | None
) -> CatalogProblem:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = allowed_keys(loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1)
        message = f"unknown key {key!r}"
        if close:
            message += f"; did you mean {close[0]!r}?"
        if allowed:
            message += f" (allowed here: {', '.join(allowed)})"
    elif kind == "missing":
        message = f"missing required key {loc[-1]!r}"
    elif kind == "string_pattern_mismatch":
        help_text = PATTERN_HELP.get(error.get("ctx", {}).get("pattern"), error["msg"])
        message = f"{error['input']!r} is not valid: {help_text}"
    elif kind == "value_error":
        message = str(error["msg"]).removeprefix("Value error, ")
    else:
        message = str(error["msg"])
        value = error.get("input")
        if isinstance(value, str | int | float | bool) or value is None:
            message += f" (got {value!r})"
        if kind == "string_type" and isinstance(value, int | float):
            message += "; put it in quotes to make it text"
        elif kind in ("int_type", "float_type", "bool_type") and isinstance(value, str):
            message += "; write it without quotes"
    if roster_lines is not None and loc[:1] == ("students",) and len(loc) > 1:
        # Inline lists cannot reach here with a roster; a roster name maps to its row.
        username = error.get("input")
        if isinstance(username, str) and username in roster_lines:
            roster = loaded.files[-1]
            return CatalogProblem(roster, roster_lines[username], loc_text(loc), message)
    return CatalogProblem(loaded.path, loaded.line_of(loc), loc_text(loc), message)


def allowed_keys(loc: Loc) -> list[str]:
    """The keys the model accepts at ``loc`` (list indexes skipped), [] if unknown."""
    model: type[BaseModel] | None = Course
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part) if model else None
        model = _model_in(info.annotation) if info else None
        if model is None:
            return []
    return list(model.model_fields) if model else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def line_of(tree: Any, loc: Loc) -> int | None:
    """The 1-based line of the deepest part of ``loc`` present in a ruamel round-trip
    tree: a missing key maps to the line of its parent."""
    line = None
    node = tree
    for part in loc:
        if isinstance(node, CommentedMap) and isinstance(part, str) and part in node:
            line = node.lc.key(part)[0] + 1
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
        else:
            break
        node = node[part]
    return line


def to_plain(node: Any) -> Any:
    """A ruamel round-trip tree as plain dicts, lists, str, int, float and bool."""
    if isinstance(node, dict):
        return {str(key): to_plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [to_plain(item) for item in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


# ---------------------------------------------------------------------------------------
# Checks across courses


def _reject_duplicate_ids(loaded: list[_CourseFile]) -> None:
    first: dict[str, _CourseFile] = {}
    for item in loaded:  # sorted by path: the first folder keeps the id
        if item.raw_id is None:
            continue
        if item.raw_id in first:
            item.problem(
                item.line_of(("id",)),
                "id",
                f"course id {item.raw_id!r} is also used by {first[item.raw_id].path}; "
                "course ids must be unique",
            )
            item.course = None
        else:
            first[item.raw_id] = item


def _reject_shared_lti_contexts(loaded: list[_CourseFile]) -> None:
    """An LTI context launches into one course: a later course file (by path) that lists
    a context an earlier one has is left out, as for duplicate ids."""
    owners: dict[str, _CourseFile] = {}
    for item in loaded:
        course = item.course
        if course is None or course.lti is None:
            continue
        clashes = [
            (index, context)
            for index, context in enumerate(course.lti.context_ids)
            if context in owners
        ]
        for index, context in clashes:
            loc = ("lti", "context_ids", index)
            item.problem(
                item.line_of(loc),
                loc_text(loc),
                f"LTI context {context!r} already launches into course "
                f"{owners[context].course.id!r} ({owners[context].path}); a context belongs "
                "to one course",
            )
        if clashes:
            item.course = None
            continue
        for context in course.lti.context_ids:
            owners[context] = item


def _reject_profile_collisions(loaded: list[_CourseFile]) -> None:
    """``a`` + env ``b-c`` and ``a-b`` + env ``c`` are both profile ``a-b-c``: the course
    with the later id is left out, so adding a course never breaks an earlier one's ids."""
    owners: dict[str, tuple[_CourseFile, str]] = {}
    valid = [item for item in loaded if item.course is not None and not item.problems]
    for item in sorted(valid, key=lambda each: each.course.id):
        course = item.course
        clashes = []
        for index, env in enumerate(course.environments):
            slug = profile_slug(course, env)
            if slug in owners:
                other, other_env = owners[slug]
                message = (
                    f"profile slug {slug!r} (course {course.id!r} + environment "
                    f"{env.slug!r}) is also the profile of course {other.course.id!r} + "
                    f"environment {other_env!r} in {other.path}; rename one environment"
                )
                clashes.append((("environments", index, "slug"), message))
        for loc, message in clashes:
            item.problem(item.line_of(loc), loc_text(loc), message)
        if clashes:
            item.course = None
            continue
        for env in course.environments:
            owners[profile_slug(course, env)] = (item, env.slug)


__all__ = [
    "COURSE_FILE",
    "ROSTER_COLUMNS",
    "CatalogError",
    "load_catalog",
    "load_course",
    "parse_roster",
]
