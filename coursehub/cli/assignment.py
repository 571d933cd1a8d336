"""``coursehub assignment release|collect|autograde|feedback|status COURSE ASSIGNMENT``: the
staff workflow, through the coursehub service with the caller's own hub token (connection,
errors and exit codes: ``coursehub.cli.connection``).

Exit codes: 0 done, 1 the service refused or a grading failed (message on stderr),
2 cannot connect or not configured.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TextIO

from coursehub.cli.connection import (
    Connection,
    ServiceAPI,
    add_connection_options,
    run_command,
)

COMMANDS = {
    "release": "generate the student version from source/ and release it",
    "collect": "collect each student's submission (latest on time, else latest, late)",
    "autograde": "autograde the collected submissions (progress on stderr)",
    "feedback": "generate feedback and return it to the students",
    "status": "who fetched, who submitted, when, late or not",
}


def add_parser(subcommands) -> None:
    assignment = subcommands.add_parser(
        "assignment", help="release, collect, autograde, return feedback, see who submitted"
    )
    assignment_commands = assignment.add_subparsers(dest="assignment_command", required=True)
    for name, text in COMMANDS.items():
        command = assignment_commands.add_parser(name, help=text)
        command.add_argument("course", help="course id, e.g. ai-101")
        command.add_argument("assignment", help="assignment name, e.g. ps1")
        add_connection_options(command)
        if name == "autograde":
            command.add_argument("--student", default=None, help="regrade one student only")
        if name == "status":
            command.add_argument("--json", action="store_true", help="print JSON")
        if name == "feedback":
            command.add_argument(
                "--push",
                action="store_true",
                help="then push the assignment's grades to the LMS (`coursehub grades push`)",
            )
        command.set_defaults(func=run)
    # Extensions live in their own module (``coursehub.cli.extensions``).
    from coursehub.cli import extensions

    extensions.add_commands(assignment_commands)


def run(args: argparse.Namespace) -> int:
    return run_command(args, _run)


def _run(args: argparse.Namespace) -> int:
    api = ServiceAPI(Connection.from_args(args))
    command = args.assignment_command
    if command == "release":
        return release(api, args.course, args.assignment, sys.stdout)
    if command == "collect":
        return collect(api, args.course, args.assignment, sys.stdout)
    if command == "autograde":
        return autograde(api, args.course, args.assignment, args.student, sys.stdout, sys.stderr)
    if command == "feedback":
        code = feedback(api, args.course, args.assignment, sys.stdout)
        if args.push:
            from coursehub.cli.grades import push

            return max(code, push(api, args.course, args.assignment, sys.stdout))
        return code
    return status(api, args.course, args.assignment, args.json, sys.stdout)


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
    pushed = body.get("lms")
    if pushed and "refused" in pushed:
        print(f"grades not pushed to the LMS: {pushed['refused']}", file=out)
    elif pushed:
        from coursehub.cli.grades import print_push_report

        return print_push_report(pushed, out)
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
