"""The ``coursehub`` command line: one module per command group, each with its parser
(``add_parser(subcommands)``) beside the functions it runs; ``connection`` is what the staff
commands share (where the deployment is, the service's API, how errors read).

Command modules import only the standard library and ``connection`` at the top; what a
command needs (the catalog, the HTTP client, the dev platform) is imported when it runs, so
``coursehub course validate`` does not import JupyterHub or the Kubernetes client, and the
staff commands never import nbgrader.
"""

from __future__ import annotations

import argparse

from coursehub.cli import (
    assignment,
    course,
    dev,
    devcluster,
    doctor,
    formgrader,
    gpu,
    grades,
    roster,
    service,
    usage,
)

# In the order ``coursehub --help`` lists them.
COMMANDS = (
    course,
    devcluster,
    dev,
    service,
    formgrader,
    assignment,
    grades,
    usage,
    gpu,
    roster,
    doctor,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coursehub", description="A GPU Jupyter platform for AI courses."
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subcommands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
