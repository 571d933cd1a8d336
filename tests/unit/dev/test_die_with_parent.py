"""``python -m coursehub.dev.die_with_parent CMD``, the wrapper the dev hub starts its managed
services through (``coursehub.hub.services.DIE_WITH_HUB``): CMD ends when its parent does,
even when the parent is killed with SIGKILL and runs no clean-up."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from coursehub.hub.services import DIE_WITH_HUB

# The parent starts the wrapped command, says its pid, and waits to be killed.
PARENT = """
import subprocess, sys, time
child = subprocess.Popen(sys.argv[1:])
print(child.pid, flush=True)
time.sleep(600)
"""


def gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_the_wrapped_command_ends_when_its_parent_is_killed():
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, *DIE_WITH_HUB, "sleep", "600"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + 30
        # Wait until the wrapper has exec'd sleep (it asked for the signal before).
        while Path(f"/proc/{child}/comm").read_text().strip() != "sleep":
            assert time.monotonic() < deadline, "the wrapper never ran its command"
            time.sleep(0.05)
        assert not gone(child)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    try:
        while not gone(child):
            assert time.monotonic() < deadline, f"sleep ({child}) outlived its killed parent"
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)  # leave nothing behind if it did


def test_without_a_command_it_says_how_to_call_it():
    result = subprocess.run(DIE_WITH_HUB, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "usage: python -m coursehub.dev.die_with_parent COMMAND [ARG ...]"
    )
