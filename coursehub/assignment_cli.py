"""``coursehub assignment …`` and ``coursehub grades export``: staff commands that call the
coursehub service of a running deployment with the caller's own hub token.

Where to connect: ``--hub-url`` (or ``COURSEHUB_HUB_URL``) and the token in
``COURSEHUB_TOKEN``. With neither, a ``coursehub dev`` state folder (``--state-dir``, default
``.coursehub-dev``) supplies both: its ``hub-url`` and ``admin-token`` files. Requests go
through the proxy to ``<hub url>/services/coursehub/api/…``; the service decides what the
token's owner may do, so the CLI holds no rights of its own.

Exit codes: 0 done, 1 the service refused or a grading failed (message on stderr),
2 cannot connect or not configured.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from coursehub.exchange.client import ServiceClient, ServiceError

SERVICE_PREFIX = "/services/coursehub"


class CLIError(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Connection:
    hub_url: str
    token: str = field(repr=False)

    @classmethod
    def resolve(cls, hub_url: str | None, state_dir: Path, environ=os.environ) -> Connection:
        hub_url = hub_url or environ.get("COURSEHUB_HUB_URL") or _read(state_dir / "hub-url")
        if not hub_url:
            raise CLIError(
                "no hub URL: pass --hub-url https://hub.example.edu (or set COURSEHUB_HUB_URL); "
                f"for coursehub dev, start it first ({state_dir / 'hub-url'} is missing)",
                2,
            )
        token = environ.get("COURSEHUB_TOKEN") or _read(state_dir / "admin-token")
        if not token:
            raise CLIError(
                "no token: set COURSEHUB_TOKEN to your JupyterHub API token "
                "(create one on the hub's Token page)",
                2,
            )
        return cls(hub_url.rstrip("/"), token)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


class ServiceAPI(ServiceClient):
    """The staff workflow endpoints of the service, through the proxy."""

    def __init__(self, connection: Connection, timeout: float = 600):
        super().__init__(f"{connection.hub_url}{SERVICE_PREFIX}", connection.token, timeout)

    def action(self, course: str, assignment: str, action: str, **params) -> dict:
        path = f"courses/{course}/assignments/{assignment}/actions/{action}"
        return self.json("POST", path, params=params)

    def job(self, job_id: str) -> dict:
        return self.json("GET", f"jobs/{job_id}")

    def status(self, course: str, assignment: str) -> dict:
        return self.json("GET", f"courses/{course}/assignments/{assignment}/status")

    def grades_csv(self, course: str, assignment: str | None) -> str:
        params = {"assignment": assignment} if assignment else {}
        return self.request("GET", f"courses/{course}/grades.csv", params=params).text


# ----- commands ---------------------------------------------------------------------------


def release(api: ServiceAPI, course: str, assignment: str, out: TextIO) -> int:
    body = api.action(course, assignment, "release")
    verb = "re-released" if body.get("replaced") else "released"
    due = f", due {body['due']}" if body.get("due") else ""
    print(f"{course}/{assignment} {verb}: {body['files']} file(s){due}", file=out)
    return 0


def collect(api: ServiceAPI, course: str, assignment: str, out: TextIO) -> int:
    """Exit code 1 when some students' submissions could not be collected (each is listed
    with the reason; the others were collected)."""
    body = api.action(course, assignment, "collect")
    collected = body["collected"]
    failed = body.get("failed", [])
    for row in collected:
        late = "  LATE" if row["late"] else ""
        print(f"  {row['student']:<20} v{row['version']}  {row['submitted_at']}{late}", file=out)
    for failure in failed:
        print(f"  {failure['student']:<20} NOT COLLECTED: {failure['reason']}", file=out)
    summary = f"collected {len(collected)} submission(s) of {course}/{assignment}"
    if failed:
        summary += f"; {len(failed)} could not be collected (listed above)"
    print(summary, file=out)
    return 1 if failed else 0


def autograde(
    api: ServiceAPI,
    course: str,
    assignment: str,
    student: str | None,
    out: TextIO,
    progress: TextIO,
    poll_seconds: float = 1.0,
) -> int:
    params = {"student": student} if student else {}
    job_id = api.action(course, assignment, "autograde", **params)["job"]
    started = time.monotonic()
    while True:
        job = api.job(job_id)
        _show_progress(job, time.monotonic() - started, progress)
        if job["state"] in ("done", "failed"):
            break
        time.sleep(poll_seconds)
    print(file=progress)
    print(
        f"autograded {job['done']} of {job['total']} submission(s) of {course}/{assignment}"
        + (f"; {job['failed']} failed: {job['message']}" if job["failed"] else ""),
        file=out,
    )
    return 0 if job["failed"] == 0 and job["state"] == "done" else 1


def _show_progress(job: dict, elapsed: float, progress: TextIO) -> None:
    finished = job["done"] + job["failed"]
    total = max(job["total"], 1)
    width = 30
    filled = int(width * finished / total)
    eta = ""
    if 0 < finished < total:
        eta = f"  ETA {elapsed / finished * (total - finished):.0f} s"
    bar = "#" * filled + "-" * (width - filled)
    waiting = ""
    if job["state"] == "running" and not job.get("running") and "waits" in job["message"]:
        waiting = "  (waiting for the cluster: see `assignment status`)"
    print(
        f"\r[{bar}] {finished}/{job['total']} graded: {job['done']} done, "
        f"{job.get('running', 0)} running, {job['failed']} failed, {job['state']}{eta}{waiting}   ",
        end="",
        file=progress,
        flush=True,
    )


def feedback(api: ServiceAPI, course: str, assignment: str, out: TextIO) -> int:
    body = api.action(course, assignment, "feedback")
    for row in body["released"]:
        print(f"  {row['student']:<20} feedback for v{row['version']}", file=out)
    for student in body.get("without_feedback", []):
        print(f"  {student:<20} no feedback generated (not autograded yet?)", file=out)
    print(f"released feedback to {len(body['released'])} student(s)", file=out)
    return 0


def status(api: ServiceAPI, course: str, assignment: str, as_json: bool, out: TextIO) -> int:
    body = api.status(course, assignment)
    if as_json:
        print(json.dumps(body, indent=2), file=out)
        return 0
    print(
        f"{course}/{assignment}: released {body['released_at'] or 'no'}, "
        f"due {body['due'] or 'not set'}",
        file=out,
    )
    header = (
        "student",
        "fetched",
        "submissions",
        "last submitted",
        "late",
        "collected",
        "feedback",
    )
    rows = [
        (
            row["student"] + ("" if row["enrolled"] else " (not enrolled)"),
            _short(row["fetched_at"]),
            str(row["submissions"]),
            _short(row["last_submitted_at"]),
            "late" if row["late"] else "",
            f"v{row['collected_version']}" if row["collected_version"] else "",
            _short(row["feedback_released_at"]),
        )
        for row in body["students"]
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for line in (header, *rows):
        cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        print("  ".join(cells).rstrip(), file=out)
    grading = body.get("autograde")
    if grading:
        print(
            f"autograde {grading['state']}: {grading['done']}/{grading['total']} graded, "
            f"{grading['running']} running, {grading['failed']} failed"
            + (f" ({grading['message']})" if grading["message"] else ""),
            file=out,
        )
    return 0


def _short(moment: str | None) -> str:
    return moment[:19].replace("T", " ") if moment else "-"


def grades_export(api: ServiceAPI, course: str, assignment: str | None, out: TextIO) -> int:
    out.write(api.grades_csv(course, assignment))
    return 0


def run(args) -> int:
    """Entry point for the argparse namespace built in ``coursehub.cli``."""
    try:
        api = ServiceAPI(Connection.resolve(args.hub_url, args.state_dir))
        command = args.assignment_command if args.command == "assignment" else "export"
        if command == "release":
            return release(api, args.course, args.assignment, sys.stdout)
        if command == "collect":
            return collect(api, args.course, args.assignment, sys.stdout)
        if command == "autograde":
            return autograde(
                api, args.course, args.assignment, args.student, sys.stdout, sys.stderr
            )
        if command == "feedback":
            return feedback(api, args.course, args.assignment, sys.stdout)
        if command == "status":
            return status(api, args.course, args.assignment, args.json, sys.stdout)
        return grades_export(api, args.course, args.assignment, sys.stdout)
    except CLIError as error:
        print(f"coursehub: {error}", file=sys.stderr)
        return error.code
    except ServiceError as error:  # status 0: the service could not be reached at all
        where = f" (HTTP {error.status})" if error.status else ""
        print(f"coursehub: {error.message}{where}", file=sys.stderr)
        return 1 if error.status else 2
