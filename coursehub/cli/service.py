"""``coursehub service``: run the coursehub service (``coursehub.service.app``); the hub
starts it in dev, the chart's deployment in production."""

from __future__ import annotations

import argparse


def add_parser(subcommands) -> None:
    service = subcommands.add_parser(
        "service",
        help="run the coursehub service (assignment exchange, gradebooks); settings in "
        "COURSEHUB_SERVICE_* environment variables, started by the hub in dev",
    )
    service.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coursehub.service.app import main

    return main()
