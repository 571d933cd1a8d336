"""Supervising the platform's child processes, and the port and HTTP probes that tell when
they are ready.

``Part`` is one child process with its own log file and process group; ``PartFailed`` says
which part failed and quotes the end of its log. The probes (``free_port``, ``port_is_free``,
``accepts_connections``, ``http_status``) are also what tests use to pick ports and wait.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path


class PartFailed(RuntimeError):
    """A part of the platform did not start or stopped unexpectedly.

    The message names the part, says what happened, and quotes the last lines of its log.
    """

    def __init__(self, part: str, problem: str, log_path: Path, tail: str):
        self.part = part
        self.log_path = log_path
        self.tail = tail
        quoted = "\n".join(f"    {line}" for line in tail.splitlines()) or "    (empty)"
        super().__init__(f"{part} {problem}. Log: {log_path}\n  last lines:\n{quoted}")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the usual small race applies)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def http_status(url: str, token: str | None = None, timeout: float = 2.0) -> int | None:
    """The HTTP status of a GET, or None if nothing answers."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


class Part:
    """One supervised child process with its own log file and process group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log: Path):
        self.name, self.argv, self.env, self.cwd, self.log_path = name, argv, env, cwd, log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== {time.strftime('%H:%M:%S')} {' '.join(self.argv)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own process group: Ctrl-C in the terminal reaches only the supervisor,
                # which stops the parts in order.
                start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def exit_code(self) -> int | None:
        return self.process.poll() if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def failure(self, problem: str) -> PartFailed:
        return PartFailed(self.name, problem, self.log_path, self.tail())

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``ready`` until true; raise ``PartFailed`` if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                raise self.failure(f"exited with code {self.exit_code()} before {what}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise self.failure(f"did not get {what} within {timeout:.0f} s")
            time.sleep(0.2)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL the whole process group."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        # Leftover children (e.g. a stuck helper) die with the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
