"""``coursehub gpu …``: admins' and staff's GPU commands through the coursehub service.

- ``coursehub gpu grant COURSE STUDENT HOURS [--note TEXT]``: extra GPU-hours for one
  student this week (admins; ``POST api/gpu/grants``).
- ``coursehub gpu sessions [--course C] [--open]``: the ledger's sessions (admins: all;
  staff: their course; ``GET api/gpu/sessions``).

Connects like ``coursehub usage`` (``--hub-url``, ``COURSEHUB_TOKEN``). Exit codes: 0 done,
1 refused by the service, 2 cannot connect. Errors are one line on stderr.
"""

from __future__ import annotations

import sys
from typing import TextIO

from coursehub.assignment_cli import CLIError, Connection, ServiceAPI
from coursehub.exchange.client import ServiceError
from coursehub.usage_cli import one_line


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
            str(row["gpus"]),
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


def run(args) -> int:
    try:
        api = ServiceAPI(Connection.resolve(args.hub_url, args.state_dir), timeout=60)
        if args.gpu_command == "grant":
            if not 0 < args.hours <= 1000:
                raise CLIError(f"HOURS must be more than 0 and at most 1000, not {args.hours:g}")
            return grant(api, args.course, args.student, args.hours, args.note, sys.stdout)
        return sessions(api, args.course, args.open, sys.stdout)
    except CLIError as error:
        print(f"coursehub: {error}", file=sys.stderr)
        return error.code
    except ServiceError as error:
        print(f"coursehub: {one_line(error, args.hub_url)}", file=sys.stderr)
        return 1 if error.status else 2
