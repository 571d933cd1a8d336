"""``coursehub usage``: GPU usage per course and user from the coursehub service
(``GET api/gpu/usage``), as an aligned table or CSV on stdout, and optionally a PNG chart
of GPU-hours per day per course (docs/gpu-usage.md).

It connects as every staff command does (``coursehub.cli.connection``) and holds no rights
of its own: the service decides which courses the token's owner may see.

Exit codes: 0 done; 1 the service refused (not staff, unknown course, bad date) or the
chart could not be written; 2 cannot connect or not configured. Errors are one line on
stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from coursehub.cli.connection import (
    CLIError,
    Connection,
    ServiceAPI,
    add_connection_options,
    run_command,
)

if TYPE_CHECKING:
    from coursehub.gpu.reports import Report


def add_parser(subcommands) -> None:
    usage = subcommands.add_parser(
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
    add_connection_options(usage)
    usage.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_command(args, _run)


def _run(args: argparse.Namespace) -> int:
    plot = Path(args.plot) if args.plot else None
    if plot is not None:
        check_plot_path(plot)
    api = ServiceAPI(Connection.from_args(args), timeout=120)
    report = fetch(api, args.course, args.since, args.until)
    show(report, args.format, sys.stdout)
    if plot is not None:
        write_plot(report, plot)
        print(f"coursehub: wrote the chart to {plot}", file=sys.stderr)
    return 0


def fetch(api: ServiceAPI, course: str | None, since: str | None, until: str | None) -> Report:
    params = {
        name: value
        for name, value in (("course", course), ("since", since), ("until", until))
        if value
    }
    from coursehub.gpu.reports import report_from_json

    return report_from_json(api.json("GET", "gpu/usage", params=params))


def check_plot_path(path: Path) -> None:
    """Fail before asking the service when the chart could not be written anyway."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.suffix.lower() != ".png":
        raise CLIError(f"--plot {path}: the chart is a PNG; name the file *.png")
    if not folder.is_dir():
        raise CLIError(f"--plot {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise CLIError(f"--plot {path}: that is a folder; give a file name such as usage.png")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CLIError(f"--plot {path}: cannot write there (permission denied)")


def write_plot(report: Report, path: Path) -> None:
    from coursehub.gpu.usage_chart import render

    data = render(report.daily, "png")
    try:
        path.write_bytes(data)
    except OSError as error:
        raise CLIError(f"--plot {path}: cannot write the chart: {error.strerror}") from None


def show(report: Report, form: str, out: TextIO) -> None:
    from coursehub.gpu.reports import csv_text, stamp, table_text

    if form == "csv":
        out.write(csv_text(report))
        return
    out.write(table_text(report))
    if not report.has_sessions:
        print(f"No GPU sessions since {stamp(report.since)}.", file=out)
