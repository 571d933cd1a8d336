"""A grading pod's program: ``python -m coursehub.grading.runner FOLDER``.

It reads ``FOLDER/in`` (see ``protocol``), imports the course's libraries once, then runs
each notebook of each submission in a process forked from itself, confined by ``sandbox``
with a user of its own per submission, and writes ``FOLDER/out/<i>.json`` as each
submission finishes (the service watches that folder for progress).

Cells go to the forked process one at a time over a pipe, each with a fresh nonce; the
runner waits for the answer with the cell's time limit and the notebook's remaining budget.
A cell that times out, crashes the process or exhausts memory is reported as such; the
runner then forks a new process, replays the cells that had answered (their outputs
dropped) and goes on, so the rest of the notebook is graded. The next submission's process
is forked while the current one runs, so its start-up overlaps execution.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import secrets
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from coursehub.grading.protocol import write_json_atomically
from coursehub.grading.sandbox import Limits, Sandbox

READY_TIMEOUT = 60.0
HEADER = struct.Struct(">I")
CHILD_FD_IN, CHILD_FD_OUT = 3, 4
SANDBOX_FAILED = 70
PR_SET_CHILD_SUBREAPER = 36


# ----- the forked process ------------------------------------------------------------


def _write_message(fd: int, message: dict) -> None:
    body = json.dumps(message, default=str).encode()
    view = memoryview(HEADER.pack(len(body)) + body)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = os.read(fd, remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _child_main(sandbox: Sandbox, uid: int, folder: Path, environ: dict) -> None:
    """Runs in the forked process; never returns."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # fd-level output of C code or os.write goes nowhere
            os.dup2(devnull, fd)
        os.closerange(CHILD_FD_OUT + 1, 4096)  # no handle on the runner or other submissions
        sandbox.enter(uid, folder, environ)
        from coursehub.grading.shell import make_shell

        shell = make_shell(sandbox.limits.max_output)
    except Exception as error:
        _write_message(CHILD_FD_OUT, {"fatal": f"{type(error).__name__}: {error}"})
        os._exit(SANDBOX_FAILED)
    _write_message(CHILD_FD_OUT, {"ready": True})
    pid = os.getpid()
    while True:
        header = _read_exactly(CHILD_FD_IN, HEADER.size)
        if header is None:
            os._exit(0)
        request = json.loads(_read_exactly(CHILD_FD_IN, HEADER.unpack(header)[0]))
        reply = shell.run(request["source"])
        if os.getpid() != pid:
            os._exit(0)  # a copy forked by student code must not answer for the cell
        reply["nonce"] = request["nonce"]
        _write_message(CHILD_FD_OUT, reply)


# ----- the runner's side -------------------------------------------------------------


@dataclass
class Answer:
    kind: str  # reply | timeout | died | garbled
    reply: dict | None = None
    detail: str = ""


class Child:
    """A forked, confined Python process and the runner's two pipe ends to it."""

    def __init__(self, sandbox: Sandbox, uid: int, folder: Path, environ: dict):
        self.sandbox, self.uid = sandbox, uid
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.dup2(to_child_r, CHILD_FD_IN)
            os.dup2(from_child_w, CHILD_FD_OUT)
            _child_main(sandbox, uid, folder, environ)
        os.close(to_child_r)
        os.close(from_child_w)
        self.ready: Answer | None = None

    def wait_ready(self) -> Answer:
        if self.ready is None:
            self.ready = self._receive(time.monotonic() + READY_TIMEOUT, nonce=None)
        return self.ready

    def execute(self, source: str, timeout: float) -> Answer:
        nonce = secrets.token_hex(8)
        try:
            _write_message(self.to_child, {"nonce": nonce, "source": source})
        except BrokenPipeError:
            return Answer("died", detail=self._exit_detail())
        return self._receive(time.monotonic() + max(timeout, 0.0), nonce)

    def _receive(self, deadline: float, nonce: str | None) -> Answer:
        limit = 2 * self.sandbox.limits.max_output + 1024**2
        header = self._read(HEADER.size, deadline)
        if isinstance(header, Answer):
            return header
        size = HEADER.unpack(header)[0]
        if size > limit:
            return Answer("garbled", detail="it sent more output than allowed")
        body = self._read(size, deadline)
        if isinstance(body, Answer):
            return body
        try:
            message = json.loads(body)
        except ValueError:
            return Answer("garbled", detail="it wrote to the grader's channel")
        if "fatal" in message:
            return Answer("died", detail=f"the sandbox could not start: {message['fatal']}")
        if nonce is not None and message.get("nonce") != nonce:
            return Answer("garbled", detail="it wrote to the grader's channel")
        return Answer("reply", reply=message)

    def _read(self, size: int, deadline: float) -> bytes | Answer:
        chunks, remaining = [], size
        while remaining:
            left = deadline - time.monotonic()
            if left <= 0:
                return Answer("timeout")
            ready, _, _ = select.select([self.from_child], [], [], left)
            if not ready:
                return Answer("timeout")
            chunk = os.read(self.from_child, min(remaining, 1 << 20))
            if not chunk:
                return Answer("died", detail=self._exit_detail())
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def _exit_detail(self) -> str:
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return "it exited"
        self.pid = 0
        if os.WIFSIGNALED(status):
            signum = os.WTERMSIG(status)
            name = signal.Signals(signum).name
            if signum == signal.SIGKILL:
                return f"killed by {name}, usually for using too much memory"
            return f"killed by {name}"
        return f"exit code {os.WEXITSTATUS(status)}"

    def stop(self) -> None:
        for fd in (self.to_child, self.from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.pid:
            self.sandbox.kill_all(self.uid, self.pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0
        _reap_orphans()


def _reap_orphans(quiet_polls: int = 3) -> None:
    """Collect the exit status of killed descendants (the runner is their subreaper), so none
    lingers as a zombie; stops once nothing more has exited for a few polls."""
    quiet = 0
    for _poll in range(200):
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            quiet = 0
            continue
        quiet += 1
        if quiet >= quiet_polls:
            return
        time.sleep(0.005)


@dataclass
class Task:
    """One notebook of one submission."""

    submission: int
    key: str
    notebook: str
    cells: list[dict]
    folder: Path
    uid: int


class Runner:
    def __init__(self, folder: Path, work_root: Path):
        self.folder = folder
        batch = json.loads((folder / "in" / "batch.json").read_text())
        self.limits = Limits.from_json(batch.get("limits", {}))
        # The batch folder is masked too: its in/ holds every submission's cells (with the
        # hidden tests), readable by anyone when the service created it with umask 022.
        masked = [*batch.get("masked_paths", []), str(folder.resolve())]
        self.sandbox = Sandbox(self.limits, masked_paths=masked)
        self.uid_base = int(batch.get("uid_base", 200000))
        self.count = len(batch["submissions"])
        self.work_root = work_root
        self.environ = _sandbox_environ()

    def tasks(self) -> list[Task]:
        tasks = []
        for index in range(self.count):
            spec = json.loads((self.folder / "in" / str(index) / "cells.json").read_text())
            for notebook in spec["notebooks"]:
                tasks.append(
                    Task(
                        index,
                        spec["key"],
                        notebook["name"],
                        notebook["cells"],
                        self.work_root / str(index),
                        self.uid_base + index,
                    )
                )
        return tasks

    def _prepare_folder(self, task: Task) -> None:
        if not task.folder.exists():
            files = self.folder / "in" / str(task.submission) / "files"
            if files.is_dir():
                shutil.copytree(files, task.folder, symlinks=False)
            self.sandbox.prepare_folder(task.folder, task.uid)

    def _fork(self, task: Task) -> Child:
        self._prepare_folder(task)
        environ = {**self.environ, "HOME": str(task.folder)}
        return Child(self.sandbox, task.uid, task.folder, environ)

    def run(self) -> int:
        tasks = self.tasks()
        results: dict[int, dict] = {}
        done = 0
        warm: Child | None = self._fork(tasks[0]) if tasks else None
        for position, task in enumerate(tasks):
            child = warm or self._fork(task)
            upcoming = tasks[position + 1] if position + 1 < len(tasks) else None
            # Start the next submission's process now; a next notebook of the same
            # submission waits, because it shares this one's user and folder.
            warm = (
                self._fork(upcoming)
                if upcoming and upcoming.submission != task.submission
                else None
            )
            started = time.monotonic()
            cells = self.run_notebook(task, child)
            result = results.setdefault(
                task.submission,
                {"key": task.key, "sandbox": self.sandbox.describe(), "notebooks": []},
            )
            result["notebooks"].append(
                {
                    "name": task.notebook,
                    "cells": cells,
                    "seconds": round(time.monotonic() - started, 3),
                }
            )
            if upcoming is None or upcoming.submission != task.submission:
                write_json_atomically(self.folder / "out" / f"{task.submission}.json", result)
                shutil.rmtree(task.folder, ignore_errors=True)
                done += 1
                print(json.dumps({"done": done, "of": self.count, "key": task.key}), flush=True)
        return 0

    def run_notebook(self, task: Task, child: Child | None) -> list[dict]:
        limits = self.limits
        deadline = time.monotonic() + limits.notebook_timeout
        answered: list[str] = []  # sources that ran to an answer: replayed after a restart
        results, restarts = [], 0
        for cell in task.cells:
            index = cell["index"]
            if time.monotonic() >= deadline:
                detail = f"the notebook's time budget of {limits.notebook_timeout:g} s ran out"
                results.append(_skipped(index, detail))
                continue
            if child is None:
                if restarts >= limits.max_restarts:
                    detail = f"the notebook's process was restarted {restarts} times already"
                    results.append(_skipped(index, detail))
                    continue
                restarts += 1
                child = self._fork(task)
                if not self._replay(child, answered, deadline):
                    child.stop()
                    child = None
                    detail = "its earlier cells could not be run again after a crash"
                    results.append(_skipped(index, detail))
                    continue
            ready = child.wait_ready()
            if ready.kind != "reply":
                child.stop()
                child = None
                results.append(_skipped(index, ready.detail or "the sandbox did not start"))
                continue
            timeout = min(limits.cell_timeout, deadline - time.monotonic())
            answer = child.execute(cell["source"], timeout)
            if answer.kind == "reply":
                results.append(_from_reply(index, answer.reply))
                answered.append(cell["source"])
                continue
            child.stop()
            child = None
            if answer.kind == "timeout":
                results.append(
                    {"index": index, "status": "timeout", "execution_count": None, "outputs": []}
                )
            else:
                results.append(
                    {
                        "index": index,
                        "status": "crashed",
                        "execution_count": None,
                        "outputs": [],
                        "detail": answer.detail,
                    }
                )
        if child is not None:
            child.stop()
        return results

    def _replay(self, child: Child, sources: list[str], deadline: float) -> bool:
        if child.wait_ready().kind != "reply":
            return False
        for source in sources:
            timeout = min(self.limits.cell_timeout, deadline - time.monotonic())
            if child.execute(source, timeout).kind != "reply":
                return False
        return True


def _from_reply(index: int, reply: dict) -> dict:
    outputs = reply.get("outputs", [])
    status = reply.get("status", "error")
    if any(o.get("output_type") == "error" and o.get("ename") == "MemoryError" for o in outputs):
        status = "memory"
    return {
        "index": index,
        "status": status,
        "execution_count": reply.get("execution_count"),
        "outputs": outputs,
    }


def _skipped(index: int, detail: str) -> dict:
    return {
        "index": index,
        "status": "skipped",
        "execution_count": None,
        "outputs": [],
        "detail": detail,
    }


def _sandbox_environ() -> dict[str, str]:
    """All a submission's process sees: no tokens, no cluster addresses."""
    environ = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "NBGRADER_EXECUTION": "autograde",  # as nbgrader's own autograde sets it
    }
    for name in ("NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"):
        if name in os.environ:
            environ[name] = os.environ[name]
    return environ


def preload(modules: list[str]) -> None:
    """Import what every notebook imports, once, before forking (the warm template)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # threads do not survive fork
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    importlib.import_module("coursehub.grading.shell")
    for name in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m coursehub.grading.runner FOLDER", file=sys.stderr)
        return 2
    folder = Path(argv[0]).absolute()
    # Orphans of student code become the runner's children, so it can reap them.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)
    batch = json.loads((folder / "in" / "batch.json").read_text())
    preload(batch.get("preload", ["numpy"]))
    work_root = Path(tempfile.mkdtemp(prefix="coursehub-grading-"))
    work_root.chmod(0o711)  # each submission may enter its own folder, not list the others
    try:
        runner = Runner(folder, work_root)
        print(json.dumps({"sandbox": runner.sandbox.describe(), "of": runner.count}), flush=True)
        return runner.run()
    finally:
        shutil.rmtree(work_root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
