"""``coursehub usage``: GPU usage per course and user from the coursehub service
(``GET api/gpu/usage``), as an aligned table or CSV on stdout, and optionally a PNG chart
of GPU-hours per day per course (docs/gpu-usage.md).

It connects like ``coursehub assignment`` (``--hub-url`` or ``COURSEHUB_HUB_URL``, the
token in ``COURSEHUB_TOKEN``, else a ``coursehub dev`` state folder) and holds no rights of
its own: the service decides which courses the token's owner may see.

Exit codes: 0 done; 1 the service refused (not staff, unknown course, bad date) or the
chart could not be written; 2 cannot connect or not configured. Errors are one line on
stderr.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TextIO

from coursehub.assignment_cli import CLIError, Connection, ServiceAPI
from coursehub.exchange.client import ServiceError
from coursehub.gpu.reports import Report, csv_text, report_from_json, stamp, table_text


def fetch(api: ServiceAPI, course: str | None, since: str | None, until: str | None) -> Report:
    params = {
        name: value
        for name, value in (("course", course), ("since", since), ("until", until))
        if value
    }
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
    if form == "csv":
        out.write(csv_text(report))
        return
    out.write(table_text(report))
    if not report.has_sessions:
        print(f"No GPU sessions since {stamp(report.since)}.", file=out)


def run(args) -> int:
    """Entry point for the argparse namespace built in ``coursehub.cli``."""
    try:
        plot = Path(args.plot) if args.plot else None
        if plot is not None:
            check_plot_path(plot)
        api = ServiceAPI(Connection.resolve(args.hub_url, args.state_dir), timeout=120)
        report = fetch(api, args.course, args.since, args.until)
        show(report, args.format, sys.stdout)
        if plot is not None:
            write_plot(report, plot)
            print(f"coursehub: wrote the chart to {plot}", file=sys.stderr)
        return 0
    except CLIError as error:
        print(f"coursehub: {error}", file=sys.stderr)
        return error.code
    except ServiceError as error:
        print(f"coursehub: {one_line(error, args.hub_url)}", file=sys.stderr)
        return 1 if error.status else 2


def one_line(error: ServiceError, hub_url: str | None) -> str:
    """The service's own sentence; or, when something else answered or nothing did, a
    sentence about the connection (never a page of HTML or a traceback)."""
    where = hub_url or "the hub"
    if error.status == 0:
        cause = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", error.message)
        reason = cause.group(1).strip() if cause else "no answer"
        return (
            f"cannot reach the coursehub service through {where} ({reason}); is the hub "
            "running and --hub-url its address?"
        )
    message = " ".join(error.message.split())
    if message.startswith("<") or not message:
        return (
            f"{where} answered HTTP {error.status} instead of the coursehub service; is "
            "--hub-url the hub's address, and does the hub run the coursehub service?"
        )
    return f"{message} (HTTP {error.status})"
