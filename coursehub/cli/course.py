"""``coursehub course validate [PATH]``: check course files before the hub reads them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from coursehub.catalog.model import Course


def add_parser(subcommands) -> None:
    course = subcommands.add_parser("course", help="work with the course catalog")
    course_commands = course.add_subparsers(dest="course_command", required=True)
    command = course_commands.add_parser(
        "validate", help="check every course.yaml (and roster) under PATH"
    )
    command.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=Path("courses"),
        help="a catalog folder, one course folder or one course.yaml (default: ./courses)",
    )
    command.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return validate(args.path)


def validate(path: Path, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Validate a catalog folder, one course folder or one course.yaml.

    Prints one summary line per valid course to ``out``, and each problem as
    ``file:line: field: message`` to ``err``. Returns 0 when everything is valid, 1 when
    there are problems (or no course at all), 2 when ``path`` does not exist.
    """
    # Here, not at the top: the catalog (pydantic, YAML) loads only for this command.
    from coursehub.catalog.catalog import CatalogProblem
    from coursehub.catalog.loader import COURSE_FILE, load_catalog, load_course

    out = out or sys.stdout
    err = err or sys.stderr
    path = Path(path)
    if not path.exists():
        print(f"coursehub course validate: {path} does not exist", file=err)
        return 2
    if path.is_file() or (path / COURSE_FILE).is_file():
        course_file = path if path.is_file() else path / COURSE_FILE
        course, problem_list = load_course(course_file)
        courses = [course] if course is not None else []
        problems: tuple[CatalogProblem, ...] = tuple(problem_list)
    else:
        catalog = load_catalog(path)
        courses, problems = list(catalog.courses.values()), catalog.problems

    for course in courses:
        print(summary(course), file=out)
    for problem in sorted(problems, key=CatalogProblem.sort_key):
        print(problem, file=err)
    if problems:
        files = len({problem.path for problem in problems})
        print(f"{len(problems)} problem(s) in {files} file(s)", file=err)
        return 1
    if not courses:
        print(f"no course found under {path} (expected {path}/<course-id>/{COURSE_FILE})", file=err)
        return 1
    return 0


def summary(course: Course) -> str:
    """One line: ``ai-101 (2026-fall): 2 environments [gpu: 1 x nvidia.com/gpu, cpu],
    2 staff, 5 students``."""
    environments = []
    for environment in course.environments:
        text = environment.slug
        if environment.gpu_count:
            text += f": {environment.gpu_count} x {environment.gpu.resource}"
            if environment.gpu.shared:
                text += f" = {environment.gpu_equivalents:g} GPU"
        if environment.default:
            text += " (default)"
        environments.append(text)
    return (
        f"{course.id} ({course.term}) {course.title!r}: "
        f"{len(course.environments)} environment(s) [{', '.join(environments)}], "
        f"{len(course.staff.all)} staff, {len(course.students)} student(s)"
    )
