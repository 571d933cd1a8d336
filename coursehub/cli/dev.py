"""``coursehub dev``: run the dev cluster, the proxy and the hub with the sample courses
(``coursehub.dev``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from coursehub.cli.connection import DEFAULT_STATE_DIR


def add_parser(subcommands) -> None:
    dev = subcommands.add_parser(
        "dev", help="run dev cluster, proxy and hub with the sample courses"
    )
    dev.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    dev.add_argument("--courses", type=Path, default=Path("courses"))
    dev.add_argument("--port", type=int, default=8000, help="public port of the hub")
    dev.add_argument("--cluster-config", type=Path, default=None)
    dev.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coursehub.dev.command import run

    return run(
        state_dir=args.state_dir,
        courses_dir=args.courses,
        port=args.port,
        cluster_config=args.cluster_config,
    )
