"""``coursehub devcluster up``: the one-machine Kubernetes stand-in in the foreground
(``coursehub.devcluster``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from coursehub.cli.connection import DEFAULT_STATE_DIR


def add_parser(subcommands) -> None:
    devcluster = subcommands.add_parser(
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
    up.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coursehub.devcluster.app import run

    return run(state_dir=args.state_dir, config_path=args.config, host=args.host, port=args.port)
