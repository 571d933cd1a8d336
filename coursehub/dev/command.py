"""``coursehub dev`` as a command: start a platform, print the URL and the demo accounts, run
until Ctrl-C or SIGTERM, then stop everything.

It leaves two files in the state folder for the CLI: ``hub-url`` and ``admin-token`` (0600),
so ``coursehub assignment …`` finds the running dev hub without options.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from coursehub.dev.platform import Platform, PlatformConfig
from coursehub.dev.processes import PartFailed


def run(state_dir: Path, courses_dir: Path, port: int, cluster_config: Path | None) -> int:
    """``coursehub dev``: start the platform, print how to sign in, run until Ctrl-C or
    SIGTERM, stop everything. Returns the exit code (1 if a part failed)."""
    config = PlatformConfig(
        state_dir=state_dir, courses_dir=courses_dir, port=port, cluster_config=cluster_config
    )
    # A token chosen by the developer (for their scripts) wins over a generated one.
    config.admin_token = os.environ.get("COURSEHUB_DEV_ADMIN_TOKEN") or config.admin_token
    platform = Platform(config)
    stop_requested = threading.Event()

    def request_stop(signum, _frame):
        stop_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(
            f"coursehub dev: starting (state in {platform.state_dir}, logs in {platform.logs_dir})"
        )
        try:
            platform.start()
        except (PartFailed, FileNotFoundError) as error:
            print(f"coursehub dev: {error}", file=sys.stderr)
            return 1
        _write_private(platform.state_dir / "admin-token", platform.admin_token + "\n")
        # The CLI (`coursehub assignment …`) finds the running dev hub here.
        (platform.state_dir / "hub-url").write_text(platform.public_url + "\n")
        _print_welcome(platform)
        while not stop_requested.wait(1.0):
            try:
                platform.check_running()
            except PartFailed as error:
                print(f"coursehub dev: {error}", file=sys.stderr)
                return 1
        print("coursehub dev: stopping…")
        return 0
    finally:
        platform.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _write_private(path: Path, text: str) -> None:
    """Write a secret readable by its owner only (0600), whatever the umask."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def _print_welcome(platform: Platform) -> None:
    lines = [
        "",
        f"coursehub is running: {platform.public_url}",
        "",
        "Demo accounts (username / password):",
    ]
    lines += [f"  {name:<16} {password}" for name, password in sorted(platform.passwords().items())]
    lines += [
        "",
        f"Admin API token: {platform.state_dir / 'admin-token'}",
        f"Cluster: KUBECONFIG={platform.kubeconfig} kubectl get pods",
        "Press Ctrl-C to stop everything.",
    ]
    print("\n".join(lines), flush=True)
