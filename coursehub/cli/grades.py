"""``coursehub grades export COURSE [--assignment A]``: the course's gradebook as CSV on
stdout; ``coursehub grades push COURSE ASSIGNMENT``: the assignment's grades to the LMS the
course is launched from (docs/lms.md), printing what was sent, skipped and failed (exit 1
when anything failed). Both through the coursehub service with the caller's own hub token
(connection, errors and exit codes: ``coursehub.cli.connection``)."""

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
    push = grades_commands.add_parser(
        "push", help="send an assignment's grades to the LMS (LTI Advantage AGS)"
    )
    push.add_argument("course", help="course id, e.g. ai-101")
    push.add_argument("assignment", help="assignment name, e.g. ps1")
    add_connection_options(push)
    push.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_command(args, _run)


def _run(args: argparse.Namespace) -> int:
    api = ServiceAPI(Connection.from_args(args))
    if args.grades_command == "push":
        return push(api, args.course, args.assignment, sys.stdout)
    return export(api, args.course, args.assignment, sys.stdout)


def export(api: ServiceAPI, course: str, assignment: str | None, out: TextIO) -> int:
    out.write(api.grades_csv(course, assignment))
    return 0


def push(api: ServiceAPI, course: str, assignment: str, out: TextIO) -> int:
    report = api.json("POST", f"courses/{course}/assignments/{assignment}/grades/push")
    return print_push_report(report, out)


def print_push_report(report: dict, out: TextIO) -> int:
    """The report, one line per student; exit code 1 when any score failed."""
    for row in report["sent"]:
        print(f"  {row['student']:<20} sent {row['score']:g}/{row['max_score']:g}", file=out)
    for row in report["skipped"]:
        print(f"  {row['student']:<20} skipped: {row['reason']}", file=out)
    for row in report["failed"]:
        print(f"  {row['student']:<20} FAILED: {row['reason']}", file=out)
    print(
        f"{report['course']}/{report['assignment']} to the LMS: {len(report['sent'])} sent, "
        f"{len(report['skipped'])} skipped, {len(report['failed'])} failed",
        file=out,
    )
    return 1 if report["failed"] else 0
