"""``coursehub grades export COURSE [--assignment A]``: the course's gradebook as CSV on
stdout, from the coursehub service with the caller's own hub token (connection, errors and
exit codes: ``coursehub.cli.connection``)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from coursehub.cli.connection import (
    Connection,
    ServiceAPI,
    add_connection_options,
    run_command,
)


def add_parser(subcommands) -> None:
    grades = subcommands.add_parser("grades", help="the gradebook")
    grades_commands = grades.add_subparsers(dest="grades_command", required=True)
    export = grades_commands.add_parser("export", help="grades as CSV on stdout")
    export.add_argument("course", help="course id, e.g. ai-101")
    export.add_argument("--assignment", default=None, help="one assignment only")
    add_connection_options(export)
    export.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_command(args, _run)


def _run(args: argparse.Namespace) -> int:
    api = ServiceAPI(Connection.from_args(args))
    return export(api, args.course, args.assignment, sys.stdout)


def export(api: ServiceAPI, course: str, assignment: str | None, out: TextIO) -> int:
    out.write(api.grades_csv(course, assignment))
    return 0
