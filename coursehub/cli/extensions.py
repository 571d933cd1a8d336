"""``coursehub assignment extend|extend-all|extensions|revoke-extension``: extensions and
accommodations, through the coursehub service with the caller's own hub token (connection,
errors and exit codes: ``coursehub.cli.connection``). The service records who granted each
extension, when (its own clock) and why; late is judged against it from then on.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from coursehub.cli.connection import (
    CLIError,
    Connection,
    ServiceAPI,
    add_connection_options,
    run_command,
)


def add_commands(assignment_commands) -> None:
    """Add the extension commands to ``coursehub assignment``'s subcommands."""
    extend = assignment_commands.add_parser(
        "extend", help="give one student a new due date or extra minutes for one assignment"
    )
    extend.add_argument("course", help="course id, e.g. ai-101")
    extend.add_argument("assignment", help="assignment name, e.g. ps1")
    extend.add_argument("student", help="the student's username")
    when = extend.add_mutually_exclusive_group(required=True)
    when.add_argument(
        "--until", help="the new due date, ISO 8601 with its offset: 2026-12-01T23:59:00+01:00"
    )
    when.add_argument("--minutes", type=int, help="extra minutes after the course's due date")
    extend.add_argument("--reason", required=True, help="why (kept with the extension)")
    add_connection_options(extend)
    extend.set_defaults(func=run)

    extend_all = assignment_commands.add_parser(
        "extend-all", help="give one student extra minutes on every assignment of a course"
    )
    extend_all.add_argument("course", help="course id, e.g. ai-101")
    extend_all.add_argument("student", help="the student's username")
    extend_all.add_argument("--minutes", type=int, required=True, help="extra minutes")
    extend_all.add_argument("--reason", required=True, help="why (kept with the extension)")
    add_connection_options(extend_all)
    extend_all.set_defaults(func=run)

    listing = assignment_commands.add_parser("extensions", help="a course's extensions")
    listing.add_argument("course", help="course id, e.g. ai-101")
    listing.add_argument("--student", default=None, help="one student's only")
    listing.add_argument("--revoked", action="store_true", help="include revoked ones")
    add_connection_options(listing)
    listing.set_defaults(func=run)

    revoke = assignment_commands.add_parser("revoke-extension", help="revoke an extension")
    revoke.add_argument("course", help="course id, e.g. ai-101")
    revoke.add_argument("id", type=int, help="the extension's id (see `extensions`)")
    add_connection_options(revoke)
    revoke.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_command(args, _run)


def _run(args: argparse.Namespace) -> int:
    api = ServiceAPI(Connection.from_args(args))
    command = args.assignment_command
    if command == "extend":
        body = {"student": args.student, "reason": args.reason}
        body.update({"until": args.until} if args.until else {"minutes": args.minutes})
        path = f"courses/{args.course}/assignments/{args.assignment}/extensions"
        return granted(api.json("POST", path, json=body), sys.stdout)
    if command == "extend-all":
        body = {"student": args.student, "minutes": args.minutes, "reason": args.reason}
        return granted(api.json("POST", f"courses/{args.course}/extensions", json=body), sys.stdout)
    if command == "extensions":
        params = {"revoked": "1"} if args.revoked else {}
        if args.student:
            params["student"] = args.student
        body = api.json("GET", f"courses/{args.course}/extensions", params=params)
        return show(body["extensions"], sys.stdout)
    if command == "revoke-extension":
        row = api.json("DELETE", f"courses/{args.course}/extensions/{args.id}")
        print(f"revoked extension {row['id']} of {row['student']} ({describe(row)})")
        return 0
    raise CLIError(f"unknown command {command}")


def describe(row: dict) -> str:
    what = row["assignment"] or "every assignment"
    change = f"due {row['until']}" if row["until"] else f"+{row['minutes']} min"
    return f"{what}: {change}"


def granted(row: dict, out: TextIO) -> int:
    print(
        f"extension {row['id']} for {row['student']} on {describe(row)}, granted by "
        f"{row['granted_by']} at {row['granted_at']}",
        file=out,
    )
    return 0


def show(rows: list[dict], out: TextIO) -> int:
    if not rows:
        print("no extensions", file=out)
    for row in rows:
        revoked = f"  REVOKED by {row['revoked_by']}" if row["revoked_at"] else ""
        print(
            f"  {row['id']:>4}  {row['student']:<20} {describe(row):<40} by {row['granted_by']} "
            f"at {row['granted_at']}: {row['reason']}{revoked}",
            file=out,
        )
    return 0
