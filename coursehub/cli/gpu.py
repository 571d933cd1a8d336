"""``coursehub gpu …``: admins' and staff's GPU commands through the coursehub service.

- ``coursehub gpu grant COURSE STUDENT HOURS [--note TEXT]``: extra GPU-hours for one
  student this week (admins; ``POST api/gpu/grants``).
- ``coursehub gpu sessions [--course C] [--open]``: the ledger's sessions (admins: all;
  staff: their course; ``GET api/gpu/sessions``).

Connects as every staff command does (``coursehub.cli.connection``). Exit codes: 0 done,
1 refused by the service, 2 cannot connect. Errors are one line on stderr.
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


def add_parser(subcommands) -> None:
    gpu = subcommands.add_parser("gpu", help="GPU quotas: extra hours, the session ledger")
    gpu_commands = gpu.add_subparsers(dest="gpu_command", required=True)
    grant = gpu_commands.add_parser(
        "grant", help="give a student extra GPU-hours in a course this week (admins)"
    )
    grant.add_argument("course")
    grant.add_argument("student")
    grant.add_argument("hours", type=float, help="extra GPU-hours, e.g. 2 or 0.5")
    grant.add_argument("--note", default="", help="why, kept in the ledger")
    add_connection_options(grant)
    grant.set_defaults(func=run)
    listing = gpu_commands.add_parser(
        "sessions", help="GPU sessions in the ledger (admins: all; staff: --course)"
    )
    listing.add_argument("--course", default=None)
    listing.add_argument("--open", action="store_true", help="only running sessions")
    add_connection_options(listing)
    listing.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_command(args, _run)


def _run(args: argparse.Namespace) -> int:
    api = ServiceAPI(Connection.from_args(args), timeout=60)
    if args.gpu_command == "grant":
        if not 0 < args.hours <= 1000:
            raise CLIError(f"HOURS must be more than 0 and at most 1000, not {args.hours:g}")
        return grant(api, args.course, args.student, args.hours, args.note, sys.stdout)
    return sessions(api, args.course, args.open, sys.stdout)


def grant(api: ServiceAPI, course: str, student: str, hours: float, note: str, out: TextIO):
    body = api.json(
        "POST",
        "gpu/grants",
        json={"course": course, "username": student, "hours": hours, "note": note},
    )
    print(
        f"{student} has {body['hours']:g} more GPU-hours in {course} this week "
        f"({body['extra_hours_this_week']:g} extra in all, week of {body['week_start'][:10]})",
        file=out,
    )
    return 0


def sessions(api: ServiceAPI, course: str | None, only_open: bool, out: TextIO) -> int:
    params = {"course": course} if course else {}
    if only_open:
        params["open"] = "1"
    rows = api.json("GET", "gpu/sessions", params=params)["sessions"]
    header = ("id", "course", "user", "environment", "gpus", "started", "stopped", "reason", "h")
    table = [header] + [
        (
            str(row["id"]),
            row["course"],
            row["username"],
            row["environment"],
            # GPU-equivalents: a quarter share of a GPU shows 0.25
            f"{float(row.get('gpu_equivalents', row['gpus'])):g}",
            (row["started_at"] or "-")[:16],
            (row["stopped_at"] or "running")[:16],
            row["stop_reason"] or "",
            f"{row['gpu_hours']:.2f}",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)), file=out
        )
    if not rows:
        print("No GPU sessions.", file=out)
    return 0
