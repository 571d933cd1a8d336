"""The ``coursehub`` command line: one entry point, one function per subcommand.

Each subcommand imports its implementation lazily so ``coursehub course validate``
stays fast and does not import JupyterHub or the Kubernetes client.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_STATE_DIR = Path(".coursehub-dev")


def _course_validate(args: argparse.Namespace) -> int:
    from coursehub.catalog.cli import validate_main

    return validate_main(args.path)


def _devcluster_up(args: argparse.Namespace) -> int:
    from coursehub.devcluster.app import run

    return run(state_dir=args.state_dir, config_path=args.config, host=args.host, port=args.port)


def _dev(args: argparse.Namespace) -> int:
    from coursehub.dev.command import run

    return run(
        state_dir=args.state_dir,
        courses_dir=args.courses,
        port=args.port,
        cluster_config=args.cluster_config,
    )


def _service(args: argparse.Namespace) -> int:
    from coursehub.service.app import main

    return main()


def _assignment(args: argparse.Namespace) -> int:
    from coursehub.assignment_cli import run

    return run(args)


def _usage(args: argparse.Namespace) -> int:
    from coursehub.usage_cli import run

    return run(args)


def _gpu(args: argparse.Namespace) -> int:
    from coursehub.gpu_cli import run

    return run(args)


def _roster(args: argparse.Namespace) -> int:
    from coursehub.roster_cli import run

    return run(args)


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hub-url",
        default=None,
        help="the hub's public URL (default: $COURSEHUB_HUB_URL, else coursehub dev's); "
        "your hub API token goes in $COURSEHUB_TOKEN",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="coursehub dev's state folder, for its hub URL and admin token",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coursehub", description="A GPU Jupyter platform for AI courses."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    course = commands.add_parser("course", help="work with the course catalog")
    course_commands = course.add_subparsers(dest="course_command", required=True)
    validate = course_commands.add_parser(
        "validate", help="check every course.yaml (and roster) under PATH"
    )
    validate.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=Path("courses"),
        help="a catalog folder, one course folder or one course.yaml (default: ./courses)",
    )
    validate.set_defaults(func=_course_validate)

    devcluster = commands.add_parser(
        "devcluster", help="the one-machine Kubernetes stand-in used in development"
    )
    devcluster_commands = devcluster.add_subparsers(dest="devcluster_command", required=True)
    up = devcluster_commands.add_parser(
        "up", help="run the dev cluster in the foreground and write DIR/kubeconfig"
    )
    up.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    up.add_argument(
        "--config",
        type=Path,
        default=None,
        help="cluster YAML (nodes, capacity); default: one CPU node, two 2xA100 nodes, a MIG node",
    )
    up.add_argument("--host", default="127.0.0.1", help="address of the API server")
    up.add_argument("--port", type=int, default=0, help="API server port (0: any free port)")
    up.set_defaults(func=_devcluster_up)

    dev = commands.add_parser("dev", help="run dev cluster, proxy and hub with the sample courses")
    dev.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    dev.add_argument("--courses", type=Path, default=Path("courses"))
    dev.add_argument("--port", type=int, default=8000, help="public port of the hub")
    dev.add_argument("--cluster-config", type=Path, default=None)
    dev.set_defaults(func=_dev)

    service = commands.add_parser(
        "service",
        help="run the coursehub service (assignment exchange, gradebooks); settings in "
        "COURSEHUB_SERVICE_* environment variables, started by the hub in dev",
    )
    service.set_defaults(func=_service)

    assignment = commands.add_parser(
        "assignment", help="release, collect, autograde, return feedback, see who submitted"
    )
    assignment_commands = assignment.add_subparsers(dest="assignment_command", required=True)
    helps = {
        "release": "generate the student version from source/ and release it",
        "collect": "collect each student's submission (latest on time, else latest, late)",
        "autograde": "autograde the collected submissions (progress on stderr)",
        "feedback": "generate feedback and return it to the students",
        "status": "who fetched, who submitted, when, late or not",
    }
    for name, text in helps.items():
        command = assignment_commands.add_parser(name, help=text)
        command.add_argument("course", help="course id, e.g. ai-101")
        command.add_argument("assignment", help="assignment name, e.g. ps1")
        _add_connection_options(command)
        if name == "autograde":
            command.add_argument("--student", default=None, help="regrade one student only")
        if name == "status":
            command.add_argument("--json", action="store_true", help="print JSON")
        command.set_defaults(func=_assignment)

    grades = commands.add_parser("grades", help="the gradebook")
    grades_commands = grades.add_subparsers(dest="grades_command", required=True)
    export = grades_commands.add_parser("export", help="grades as CSV on stdout")
    export.add_argument("course", help="course id, e.g. ai-101")
    export.add_argument("--assignment", default=None, help="one assignment only")
    _add_connection_options(export)
    export.set_defaults(func=_assignment)

    usage = commands.add_parser(
        "usage",
        help="GPU-hours, sessions, refusals and culls per course and user (admins: every "
        "course; staff: their own)",
    )
    usage.add_argument("--course", default=None, help="one course only, e.g. ai-101")
    usage.add_argument(
        "--since",
        default=None,
        help="start of the window: YYYY-MM-DD (00:00 UTC) or an ISO 8601 time "
        "(default: this week's Monday 00:00 UTC)",
    )
    usage.add_argument(
        "--until",
        default=None,
        help="end of the window: YYYY-MM-DD (that day included) or an ISO 8601 time (default: now)",
    )
    usage.add_argument(
        "--format",
        choices=("table", "csv"),
        default="table",
        help="table (aligned, with totals) or csv (one line per course and user)",
    )
    usage.add_argument(
        "--plot", default=None, metavar="FILE.png", help="also write a chart of GPU-hours per day"
    )
    _add_connection_options(usage)
    usage.set_defaults(func=_usage)

    gpu = commands.add_parser("gpu", help="GPU quotas: extra hours, the session ledger")
    gpu_commands = gpu.add_subparsers(dest="gpu_command", required=True)
    grant = gpu_commands.add_parser(
        "grant", help="give a student extra GPU-hours in a course this week (admins)"
    )
    grant.add_argument("course")
    grant.add_argument("student")
    grant.add_argument("hours", type=float, help="extra GPU-hours, e.g. 2 or 0.5")
    grant.add_argument("--note", default="", help="why, kept in the ledger")
    _add_connection_options(grant)
    grant.set_defaults(func=_gpu)
    listing = gpu_commands.add_parser(
        "sessions", help="GPU sessions in the ledger (admins: all; staff: --course)"
    )
    listing.add_argument("--course", default=None)
    listing.add_argument("--open", action="store_true", help="only running sessions")
    _add_connection_options(listing)
    listing.set_defaults(func=_gpu)

    roster = commands.add_parser(
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
        _add_connection_options(command)
        command.set_defaults(func=_roster)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
