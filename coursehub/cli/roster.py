"""``coursehub roster import|show|clear|remove``: a course's imported roster, through the
coursehub service with the caller's own hub token (the course's staff and admins may).

Where to connect, which token and how errors read: ``coursehub.cli.connection``. The CSV
goes to the service as it is; the service validates it (the same rules as a course's roster
file) and either applies all of it, applies the valid rows (``--skip-invalid``) or nothing;
the invalid rows follow the error line, one per line.

Exit codes: 0 done, 1 the service refused (bad rows, not staff; message on stderr),
2 cannot connect, not configured or the file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from coursehub.cli.connection import (
    CLIError,
    Connection,
    ServiceAPI,
    add_connection_options,
    run_command,
)


def add_parser(subcommands) -> None:
    roster = subcommands.add_parser(
        "roster",
        help="a course's imported roster (replaces the course file's students while present)",
    )
    roster_commands = roster.add_subparsers(dest="roster_command", required=True)
    imported = roster_commands.add_parser(
        "import",
        help="make a CSV (columns username,email,name; username required) the course's "
        "students; prints who was added and removed",
    )
    imported.add_argument("course", help="course id, e.g. ai-101")
    imported.add_argument("file", help="the roster CSV (UTF-8), or - for stdin")
    imported.add_argument(
        "--skip-invalid",
        action="store_true",
        help="apply the valid rows and list the invalid ones (default: apply nothing if any "
        "row is invalid)",
    )
    imported.add_argument(
        "--dry-run", action="store_true", help="check the file and show what would change"
    )
    shown = roster_commands.add_parser(
        "show", help="the course's students and staff, and where each comes from"
    )
    shown.add_argument("course", help="course id, e.g. ai-101")
    shown.add_argument("--json", action="store_true", help="print JSON")
    cleared = roster_commands.add_parser(
        "clear", help="drop the imported roster: the course file's students count again"
    )
    cleared.add_argument("course", help="course id, e.g. ai-101")
    removed = roster_commands.add_parser(
        "remove",
        help="take users out of a course now: out of its imported roster and without their "
        "sign-in (OIDC/LTI) memberships of it",
    )
    removed.add_argument("course", help="course id, e.g. ai-101")
    removed.add_argument("usernames", nargs="+", metavar="USERNAME")
    for command in (imported, shown, cleared, removed):
        add_connection_options(command)
        command.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_command(args, _run)


def _run(args: argparse.Namespace) -> int:
    api = RosterAPI(Connection.from_args(args), timeout=120)
    if args.roster_command == "import":
        return import_roster(
            api, args.course, args.file, args.skip_invalid, args.dry_run, sys.stdout
        )
    if args.roster_command == "show":
        return show(api, args.course, args.json, sys.stdout)
    if args.roster_command == "remove":
        return remove(api, args.course, args.usernames, sys.stdout)
    return clear(api, args.course, sys.stdout)


class RosterAPI(ServiceAPI):
    def import_roster(
        self, course: str, data: bytes, filename: str, skip_invalid: bool, dry_run: bool
    ) -> dict:
        params = {"filename": filename}
        if skip_invalid:
            params["skip_invalid"] = "1"
        if dry_run:
            params["dry_run"] = "1"
        response = self.request(
            "PUT",
            f"courses/{course}/roster",
            data=data,
            params=params,
            headers={"Content-Type": "text/csv; charset=utf-8"},
        )
        return response.json()

    def show(self, course: str) -> dict:
        return self.json("GET", f"courses/{course}/roster")

    def clear(self, course: str) -> dict:
        return self.json("DELETE", f"courses/{course}/roster")

    def remove(self, course: str, username: str) -> dict:
        return self.json("DELETE", f"courses/{course}/members/{username}")


def _names(label: str, names: list[str], out: TextIO) -> None:
    listed = ", ".join(names) if names else "-"
    print(f"  {label} ({len(names)}): {listed}", file=out)


def _changes(body: dict, out: TextIO) -> None:
    _names("added", body["added"], out)
    _names("removed", body["removed"], out)
    _names("unchanged", body["unchanged"], out)


def import_roster(
    api: RosterAPI, course: str, path: str, skip_invalid: bool, dry_run: bool, out: TextIO
) -> int:
    if path == "-":
        data, filename = sys.stdin.buffer.read(), "stdin"
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise CLIError(f"cannot read {path}: {error.strerror or error}", 2) from None
        filename = Path(path).name
    body = api.import_roster(course, data, filename, skip_invalid, dry_run)
    verb = "would import" if body["dry_run"] else "imported"
    print(
        f"{course}: {verb} {body['rows']} student row(s) from {filename}; the course has "
        f"{body['students']} student(s)" + ("" if body["dry_run"] else " now"),
        file=out,
    )
    _changes(body, out)
    skipped = body.get("skipped") or []
    if skipped:
        print(f"skipped {len(skipped)} invalid row(s):", file=out)
        for row in skipped:
            print(f"  line {row['line']}: {row['field']}: {row['message']}", file=out)
    if body["dry_run"]:
        print("dry run: nothing was applied", file=out)
    return 0


def show(api: RosterAPI, course: str, as_json: bool, out: TextIO) -> int:
    body = api.show(course)
    if as_json:
        print(json.dumps(body, indent=2), file=out)
        return 0
    if body["source"] == "import":
        origin = f"imported by {body['imported_by']} at {body['imported_at']}"
        if body.get("filename"):
            origin += f" from {body['filename']}"
        origin += " (replaces the course file's students; `coursehub roster clear` undoes it)"
    else:
        origin = "from the course file"
    print(f"{course}: {len(body['students'])} student(s), {origin}", file=out)
    for member in body["staff"]:
        print(
            f"  {member['username']:<24} {member['role']:<10} {'+'.join(member['from'])}", file=out
        )
    for student in body["students"]:
        detail = "  ".join(part for part in (student["name"], student["email"]) if part)
        origin = "+".join(student["from"])
        line = f"  {student['username']:<24} {'student':<10} {origin:<8} {detail}"
        print(line.rstrip(), file=out)
    return 0


def clear(api: RosterAPI, course: str, out: TextIO) -> int:
    body = api.clear(course)
    print(
        f"{course}: imported roster cleared; {body['students']} student(s) from the course "
        "file now",
        file=out,
    )
    _changes(body, out)
    return 0


def remove(api: RosterAPI, course: str, usernames: list[str], out: TextIO) -> int:
    from coursehub.exchange.client import ServiceError

    code = 0
    for username in usernames:
        try:
            body = api.remove(course, username)
        except ServiceError as error:
            if error.status != 404:
                raise
            print(f"{course}: {error.message}", file=out)
            code = 1
            continue
        where = " and ".join(body["removed_from"]) or "nothing"
        print(f"{course}: removed {username} (from: {where})", file=out)
        if body.get("role"):
            print(f"  {body['message']}", file=out)
            code = 1
    return code
