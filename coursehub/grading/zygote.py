"""The zygote: a fresh interpreter that forks every submission's process.

The runner reads every submission of its batch (their cells, hidden tests included) and
keeps their results. A process forked from the runner would hold all of it in its memory,
where student code finds it (``gc.get_objects()``, ``/proc/self/mem``). So the runner starts
this program first, with a clean environment, before it has read anything: the zygote
imports IPython and the course's libraries once (the warm start that makes grading fast),
and then only ever learns, per request, a user id, a folder and an environment. Each
submission's process is forked from it and is sent its own cells, one at a time.

The runner and the zygote talk over a ``SOCK_SEQPACKET`` socket pair: the runner sends
``{"uid", "folder", "environ"}`` with the two pipe ends of the new process (SCM_RIGHTS) and
gets ``{"pid"}`` back. The zygote double-forks, so the process is re-parented to the runner
(its child subreaper), which can then wait for it like for any child of its own.

    python -m coursehub.grading.zygote FD    (started by the runner, never by hand)
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from coursehub.grading.child import child_main
from coursehub.grading.sandbox import Sandbox

READY_TIMEOUT = 120.0  # importing the course's libraries (torch) can take a while
SPAWN_TIMEOUT = 30.0
MESSAGE_BYTES = 1 << 16
REPARENT_TIMEOUT = 5.0


class ZygoteError(RuntimeError):
    """The zygote could not start or answer; the message says what happened."""


def zygote_environ() -> dict[str, str]:
    """All the zygote (and so every submission's process, in its memory) ever holds of an
    environment: no tokens, no cluster addresses."""
    environ = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",  # threads do not survive fork
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if os.environ.get("PYTHONPATH"):  # a checkout's code, as the runner itself runs it
        environ["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return environ


class Zygote:
    """The runner's handle on its zygote."""

    def __init__(self, sandbox: Sandbox, preload: list[str]):
        self.sandbox, self.preload = sandbox, list(preload)
        self.socket: socket.socket | None = None
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "coursehub.grading.zygote", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                env=zygote_environ(),
                cwd="/",
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self.socket = ours
        ours.settimeout(READY_TIMEOUT)
        self._send({"sandbox": self.sandbox.to_json(), "preload": self.preload})
        if self._receive().get("ready") is not True:
            raise ZygoteError("the zygote did not get ready")

    def spawn(self, uid: int, folder: Path, environ: dict[str, str]) -> tuple[int, int, int]:
        """A new confined process: (pid, fd to write its requests, fd to read its replies)."""
        if self.socket is None:
            self.start()
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            request = {"uid": uid, "folder": str(folder), "environ": environ}
            self.socket.settimeout(SPAWN_TIMEOUT)
            socket.send_fds(self.socket, [json.dumps(request).encode()], [to_child_r, from_child_w])
            reply = self._receive()
        except (OSError, ZygoteError) as error:
            for fd in (to_child_w, from_child_r):
                os.close(fd)
            self.stop()  # the next spawn starts a new one
            raise ZygoteError(f"the zygote did not fork a process: {error}") from None
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        if type(reply.get("pid")) is not int or reply["pid"] <= 0:
            os.close(to_child_w)
            os.close(from_child_r)
            raise ZygoteError(f"the zygote could not fork: {reply.get('error', reply)}")
        return reply["pid"], to_child_w, from_child_r

    def stop(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.process = None

    def _send(self, message: dict) -> None:
        self.socket.send(json.dumps(message).encode())

    def _receive(self) -> dict:
        try:
            data = self.socket.recv(MESSAGE_BYTES)
        except TimeoutError:
            raise ZygoteError("the zygote did not answer in time") from None
        if not data:
            raise ZygoteError("the zygote exited")
        return json.loads(data)


# ----- the zygote's own side -----------------------------------------------------------


def preload(modules: list[str]) -> None:
    """Import what every notebook imports, once, before any fork."""
    importlib.import_module("coursehub.grading.shell")
    for name in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def serve(channel: socket.socket) -> int:
    config = json.loads(channel.recv(MESSAGE_BYTES))
    sandbox = Sandbox.from_json(config["sandbox"])
    preload(config.get("preload", []))
    del config
    channel.send(json.dumps({"ready": True}).encode())
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(channel, MESSAGE_BYTES, 2)
        except OSError:
            return 0
        if not message:
            return 0  # the runner closed its end
        try:
            if len(fds) != 2:
                raise ValueError("a request carries two pipe ends")
            pid = _fork_process(sandbox, json.loads(message), fds, channel)
            reply = {"pid": pid}
        except Exception as error:
            reply = {"error": f"{type(error).__name__}: {error}"}
        finally:
            for fd in fds:
                os.close(fd)
        channel.send(json.dumps(reply).encode())


def _fork_process(sandbox: Sandbox, request: dict, fds: list[int], channel) -> int:
    """Fork twice, so the process's parent becomes the runner; returns its pid."""
    read_pid, write_pid = os.pipe()
    intermediate = os.fork()
    if intermediate == 0:
        try:
            me = os.getpid()
            process = os.fork()
            if process == 0:
                os.close(read_pid)
                os.close(write_pid)
                channel.close()
                _wait_for_the_runner(me)
                child_main(sandbox, request, fds[0], fds[1])  # never returns
            os.write(write_pid, str(process).encode())
        finally:
            os._exit(0)
    os.close(write_pid)
    os.waitpid(intermediate, 0)
    with os.fdopen(read_pid, "rb") as answer:
        return int(answer.read() or b"0")


def _wait_for_the_runner(intermediate: int) -> None:
    """Until the intermediate process has exited and this one belongs to the runner: a
    parent-death signal set before would fire when the intermediate exits."""
    deadline = time.monotonic() + REPARENT_TIMEOUT
    while os.getppid() == intermediate:
        if time.monotonic() > deadline:
            os._exit(71)
        time.sleep(0.0005)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print(
            "usage: python -m coursehub.grading.zygote FD (started by the runner)", file=sys.stderr
        )
        return 2
    return serve(socket.socket(fileno=int(argv[0])))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
