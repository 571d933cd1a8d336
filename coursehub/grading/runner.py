"""A grading pod's program: ``python -m coursehub.grading.runner FOLDER``.

It reads ``FOLDER/in`` (see ``protocol``; fetched first from the service with the batch's
token when the pod has one, see ``remote``), chooses the strongest sandbox the pod allows (or
refuses, writing ``out/refused.json``, when it cannot give each submission a user of its
own: no student code then runs), starts the zygote (``zygote``) before reading any
submission, and grades the submissions one after the other, each in processes of its own,
writing ``FOLDER/out/<i>.json`` as each finishes and ``out/<i>.progress`` as each cell
finishes (so a pod that dies mid-submission still tells how far it got), and posting each
of them to the service as it is written.

A notebook with hidden tests runs twice, in separate processes, the first one done and
gone before the second starts: a **feedback run** with every hidden region replaced by
``pass`` (its outputs are what the student's feedback shows), then the **grading run**
with the hidden tests (its outputs are scored). Nothing the grading run's process saw can
reach the feedback.

Cells go to a process one at a time over a pipe, each with a fresh nonce; the runner
checks every reply (``protocol.check_reply``) and waits with the cell's time limit and the
notebook's remaining budget, watching the submission's disk use. A cell that times out,
crashes the process, exhausts memory or disk, or writes garbage to the grader's channel is
reported as such; the runner then starts a new process, replays the cells that had
answered (their outputs dropped) and goes on, so the rest of the notebook is graded. The
next submission's process is started while the current one runs, so its start-up overlaps
execution.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from coursehub.grading.channel import HEADER, write_message
from coursehub.grading.protocol import ProtocolError, check_reply, write_json_atomically
from coursehub.grading.remote import Outbox, RemoteError, take_credentials
from coursehub.grading.sandbox import (
    USERS,
    Limits,
    Sandbox,
    SandboxUnavailable,
    network_reachable,
)
from coursehub.grading.zygote import Zygote, ZygoteError
from coursehub.linux import PR_SET_CHILD_SUBREAPER, prctl

READY_TIMEOUT = 60.0
WATCH_SECONDS = 0.2  # how often the disk use of a running cell is checked
REFUSED_EXIT = 3
FETCH_FAILED_EXIT = 4


# ----- one process of a submission, from the runner's side ----------------------------


@dataclass
class Answer:
    kind: str  # reply | timeout | died | garbled | disk
    reply: dict | None = None
    detail: str = ""


class Child:
    """A confined process forked by the zygote, and the runner's two pipe ends to it."""

    def __init__(self, runner: Runner, uid: int, folder: Path, environ: dict):
        self.runner, self.uid, self.folder = runner, uid, folder
        self.pid, self.to_child, self.from_child = runner.spawn(uid, folder, environ)
        self.ready: Answer | None = None

    @property
    def limits(self) -> Limits:
        return self.runner.sandbox.limits

    def wait_ready(self) -> Answer:
        if self.ready is None:
            self.ready = self._receive(time.monotonic() + READY_TIMEOUT, nonce=None)
        return self.ready

    def execute(self, source: str, timeout: float) -> Answer:
        nonce = secrets.token_hex(8)
        try:
            write_message(self.to_child, {"nonce": nonce, "source": source})
        except BrokenPipeError:
            return Answer("died", detail=self._exit_detail())
        answer = self._receive(time.monotonic() + max(timeout, 0.0), nonce)
        if answer.kind == "reply":
            # A cell that fills the disk faster than the watch interval has answered before
            # the watch looked: its use is checked once more before the reply counts.
            over = self.runner.over_disk_limit(self.uid, self.folder)
            if over:
                return Answer("disk", detail=over)
        return answer

    def _receive(self, deadline: float, nonce: str | None) -> Answer:
        limit = 2 * self.limits.max_output + 1024**2
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
        if isinstance(message, dict) and isinstance(message.get("fatal"), str):
            return Answer("died", detail=f"the sandbox could not start: {message['fatal'][:300]}")
        if nonce is None:
            ok = message == {"ready": True}
            return Answer("reply", reply=message) if ok else Answer("garbled", detail="bad start")
        try:
            return Answer("reply", reply=check_reply(message, nonce, limit))
        except ProtocolError:
            return Answer("garbled", detail="it wrote to the grader's channel")

    def _read(self, size: int, deadline: float) -> bytes | Answer:
        chunks, remaining = [], size
        while remaining:
            left = deadline - time.monotonic()
            if left <= 0:
                return Answer("timeout")
            ready, _, _ = select.select([self.from_child], [], [], min(left, WATCH_SECONDS))
            if not ready:
                over = self.runner.over_disk_limit(self.uid, self.folder)
                if over:
                    return Answer("disk", detail=over)
                continue
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
        self.runner.sandbox.kill_all(self.uid, self.pid)
        if self.pid:
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


# ----- the runner ----------------------------------------------------------------------


@dataclass
class Submission:
    index: int
    key: str
    notebooks: list[dict]  # [{"name", "cells": [{"index", "source", "shown"?}]}]
    uid: int
    folder: Path
    files: Path  # the copy in the batch folder: each run starts from it

    @property
    def has_hidden_tests(self) -> bool:
        return any("shown" in cell for notebook in self.notebooks for cell in notebook["cells"])


class Runner:
    def __init__(
        self,
        folder: Path,
        work_root: Path,
        sandbox: Sandbox,
        batch: dict,
        outbox: Outbox | None = None,
    ):
        self.folder, self.work_root, self.sandbox = folder, work_root, sandbox
        self.outbox = outbox or Outbox(None)
        self.progress_index = 0
        self.keys = [str(key) for key in batch["submissions"]]
        self.uid_base = int(batch.get("uid_base", 200000))
        self.preload = list(batch.get("preload", ["numpy"]))
        self.environ = _sandbox_environ()
        self.zygote = Zygote(sandbox, self.preload)
        self.progress_file: Path | None = None

    @property
    def limits(self) -> Limits:
        return self.sandbox.limits

    def spawn(self, uid: int, folder: Path, environ: dict) -> tuple[int, int, int]:
        try:
            return self.zygote.spawn(uid, folder, environ)
        except ZygoteError:  # it died (say, the pod ran short of memory): a new one, once
            return self.zygote.spawn(uid, folder, environ)

    def submission(self, index: int) -> Submission:
        spec = json.loads((self.folder / "in" / str(index) / "cells.json").read_text())
        return Submission(
            index=index,
            key=self.keys[index],
            notebooks=spec["notebooks"],
            uid=self.uid_base + index,
            folder=self.work_root / str(index),
            files=self.folder / "in" / str(index) / "files",
        )

    def run(self) -> int:
        (self.folder / "out").mkdir(exist_ok=True)
        self.zygote.start()
        warm: Child | None = None
        try:
            for index in range(len(self.keys)):
                submission = self.submission(index)
                upcoming = index + 1 < len(self.keys)
                try:
                    result, warm = self.grade(submission, warm, upcoming)
                except Exception as error:  # the runner's own failure: this one only
                    result, warm = _not_graded(submission, f"{type(error).__name__}: {error}"), None
                write_json_atomically(self.folder / "out" / f"{index}.json", result)
                self.outbox.send("results", index, result)
                print(
                    json.dumps({"done": index + 1, "of": len(self.keys), "key": submission.key}),
                    flush=True,
                )
        finally:
            if warm is not None:
                warm.stop()
            self.zygote.stop()
        return 0

    def grade(
        self, submission: Submission, warm: Child | None, upcoming: bool
    ) -> tuple[dict, Child | None]:
        """The submission's result, and the next submission's process if it was started."""
        result = {"key": submission.key, "sandbox": self.sandbox.describe(), "notebooks": []}
        notebooks = {
            nb["name"]: {"name": nb["name"], "cells": [], "seconds": 0.0}
            for nb in submission.notebooks
        }
        result["notebooks"] = list(notebooks.values())
        # Its existence says "started": a pod that dies now costs this submission alone.
        self.progress_file = self.folder / "out" / f"{submission.index}.progress"
        self.progress_file.touch()
        self.progress_index = submission.index
        self.outbox.send("progress", submission.index, {"started": True})
        runs = ["feedback", "grading"] if submission.has_hidden_tests else ["grading"]
        next_warm = None
        for run in runs:
            if warm is None:
                self.reset_folder(submission)
            last_run = run == runs[-1]
            for position, notebook in enumerate(submission.notebooks):
                child = warm if position == 0 else None
                warm = None
                if last_run and position == len(submission.notebooks) - 1 and upcoming:
                    next_warm = self._warm_next(submission.index + 1)
                started = time.monotonic()
                cells = self.run_notebook(submission, notebook, run, child)
                entry = notebooks[notebook["name"]]
                entry["feedback_cells" if run == "feedback" else "cells"] = cells
                entry["seconds"] = round(entry["seconds"] + time.monotonic() - started, 3)
            self.finish(submission)
        shutil.rmtree(submission.folder, ignore_errors=True)
        return result, next_warm

    def _warm_next(self, index: int) -> Child | None:
        """Start the next submission's first process now, so its start-up overlaps this
        one's execution (another user, another folder: nothing shared)."""
        try:
            upcoming = self.submission(index)
            self.reset_folder(upcoming)
            return Child(self, upcoming.uid, upcoming.folder, self.environ_for(upcoming))
        except (OSError, ZygoteError, ValueError, KeyError):
            return None  # it starts when its turn comes

    def environ_for(self, submission: Submission) -> dict[str, str]:
        return {**self.environ, "HOME": str(submission.folder)}

    def reset_folder(self, submission: Submission) -> None:
        """The submission's folder as it was handed in, readable by its user alone."""
        shutil.rmtree(submission.folder, ignore_errors=True)
        if submission.files.is_dir():
            shutil.copytree(submission.files, submission.folder, symlinks=False)
        self.sandbox.prepare_folder(submission.folder, submission.uid)

    def finish(self, submission: Submission) -> None:
        """Nothing of this run may outlive it: its processes, its files, its IPC."""
        self.sandbox.kill_all(submission.uid)
        _reap_orphans()
        self.sandbox.clean_up(submission.uid)

    def over_disk_limit(self, uid: int, folder: Path) -> str:
        used, entries = self.sandbox.disk_used(uid, folder)
        limits = self.limits
        if used > limits.disk:
            return f"it used more than {limits.disk / 1024**2:g} MB of disk"
        if entries > limits.max_entries:
            return f"it made more than {limits.max_entries} files and folders"
        return ""

    def run_notebook(
        self, submission: Submission, notebook: dict, run: str, child: Child | None
    ) -> list[dict]:
        limits = self.limits
        # The notebook's time budget counts from its first ready process: start-up is the
        # grader's time, not the student's.
        deadline: float | None = None
        answered: list[str] = []  # sources that ran to an answer: replayed after a restart
        results, restarts = [], 0
        started = child is not None
        for cell in notebook["cells"]:
            index = cell["index"]
            source = cell.get("shown", cell["source"]) if run == "feedback" else cell["source"]
            result = None
            if deadline is not None and time.monotonic() >= deadline:
                detail = f"the notebook's time budget of {limits.notebook_timeout:g} s ran out"
                result = _skipped(index, detail)
            elif child is None and started and restarts >= limits.max_restarts:
                detail = f"the notebook's process was restarted {restarts} times already"
                result = _skipped(index, detail)
            elif child is None:
                restarts += started  # the notebook's first process is no restart
                started = True
                child = self._start(submission, answered, deadline)
                if isinstance(child, str):
                    result, child = _skipped(index, child), None
            if result is None and child.wait_ready().kind != "reply":  # a warm process
                detail = child.ready.detail or "the sandbox did not start"
                child.stop()
                result, child = _skipped(index, detail), None
            if deadline is None:
                deadline = time.monotonic() + limits.notebook_timeout
            if result is None:
                timeout = min(limits.cell_timeout, deadline - time.monotonic())
                answer = child.execute(source, timeout)
                if answer.kind == "reply":
                    result = _from_reply(index, answer.reply)
                    answered.append(source)
                else:
                    child.stop()
                    child = None
                    if answer.kind == "disk":
                        self.clear_disk(submission)
                    result = _failed(index, answer)
            results.append(result)
            if run == "grading":
                self._record_progress(notebook["name"], result)
        if child is not None:
            child.stop()
        return results

    def _start(self, submission: Submission, answered: list[str], deadline: float | None):
        """A new process for the submission, with the cells that had answered run again;
        a sentence instead when that fails."""
        try:
            child = Child(self, submission.uid, submission.folder, self.environ_for(submission))
        except ZygoteError as error:
            return f"the grader could not start a process for it ({error})"
        ready = child.wait_ready()
        if ready.kind != "reply":
            child.stop()
            return ready.detail or "the sandbox did not start"
        for source in answered:
            timeout = min(self.limits.cell_timeout, deadline - time.monotonic())
            if child.execute(source, timeout).kind != "reply":
                child.stop()
                return "its earlier cells could not be run again after a crash"
        return child

    def clear_disk(self, submission: Submission) -> None:
        """After a process was stopped for its disk use: its files go, the folder is as
        handed in, and its later cells run in a clean state."""
        self.finish(submission)
        self.reset_folder(submission)

    def _record_progress(self, notebook: str, result: dict) -> None:
        line = json.dumps({"notebook": notebook, "cell": result}) + "\n"
        with open(self.progress_file, "a") as progress:
            progress.write(line)
        self.outbox.send("progress", self.progress_index, {"notebook": notebook, "cell": result})


def _from_reply(index: int, reply: dict) -> dict:
    outputs = reply["outputs"]
    status = reply["status"]
    if any(o["output_type"] == "error" and o["ename"] == "MemoryError" for o in outputs):
        status = "memory"
    return {
        "index": index,
        "status": status,
        "execution_count": reply["execution_count"],
        "outputs": outputs,
    }


def _failed(index: int, answer: Answer) -> dict:
    if answer.kind == "timeout":
        return {"index": index, "status": "timeout", "execution_count": None, "outputs": []}
    detail = answer.detail or "it stopped answering"
    if answer.kind == "garbled" and "grader's channel" not in detail:
        detail = f"{detail}: it wrote to the grader's channel"
    return {
        "index": index,
        "status": "crashed",
        "execution_count": None,
        "outputs": [],
        "detail": detail,
    }


def _skipped(index: int, detail: str) -> dict:
    return {
        "index": index,
        "status": "skipped",
        "execution_count": None,
        "outputs": [],
        "detail": detail,
    }


def _not_graded(submission: Submission, reason: str) -> dict:
    detail = f"the grader failed on this submission ({reason[:300]})"
    return {
        "key": submission.key,
        "sandbox": "",
        "notebooks": [
            {
                "name": notebook["name"],
                "cells": [_skipped(cell["index"], detail) for cell in notebook["cells"]],
                "seconds": 0.0,
            }
            for notebook in submission.notebooks
        ],
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


def choose_sandbox(batch: dict, folder: Path) -> Sandbox:
    """The strongest sandbox this pod allows, or SandboxUnavailable. The batch folder (every
    submission's cells) is hidden too where namespaces allow, and is the runner's alone
    (``0700``) anyway. In the users mode the network is the NetworkPolicy's job: the runner
    checks that it is in force."""
    machine = list(batch.get("masked_paths", []))  # dev: folders of the machine pods share
    sandbox = Sandbox.for_this_pod(
        Limits.from_json(batch.get("limits", {})),
        [*machine, str(folder.resolve())],
        require_namespaces=bool(machine),
    )
    api = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "")
    if (
        sandbox.mode == USERS
        and api[0]
        and api[1].isdigit()
        and network_reachable(api[0], int(api[1]))
    ):
        raise SandboxUnavailable(
            f"refusing to run student code: this grading pod can reach the network (the "
            f"Kubernetes API at {api[0]}:{api[1]} answered), so its NetworkPolicy is not in "
            "force; the cluster's network plugin must enforce NetworkPolicy (docs/deploy.md)"
        )
    return sandbox


def refuse(folder: Path, reason: str, outbox: Outbox | None = None) -> int:
    write_json_atomically(folder / "out" / "refused.json", {"reason": reason})
    (outbox or Outbox(None)).send("refused", None, {"reason": reason})
    print(json.dumps({"refused": reason}), flush=True)
    print(reason, file=sys.stderr)
    return REFUSED_EXIT


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m coursehub.grading.runner FOLDER", file=sys.stderr)
        return 2
    folder = Path(argv[0]).absolute()
    # Orphans of student code (and the zygote's forks) become the runner's children.
    prctl(PR_SET_CHILD_SUBREAPER, 1, "child subreaper")
    try:
        # Out of the environment before anything else starts: no student process inherits it.
        remote = take_credentials()
    except RemoteError as error:
        print(error, file=sys.stderr)
        return 2
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):  # not root: refused below anyway
        folder.chmod(0o700)  # the batch (every submission's cells) is the runner's alone
    if remote is not None:
        try:
            remote.fetch_inputs(folder)
        except RemoteError as error:
            print(f"could not fetch the batch's inputs: {error}", file=sys.stderr)
            return FETCH_FAILED_EXIT
    outbox = Outbox(remote)
    (folder / "out").mkdir(exist_ok=True)
    batch = json.loads((folder / "in" / "batch.json").read_text())
    try:
        sandbox = choose_sandbox(batch, folder)
    except SandboxUnavailable as refusal:
        return refuse(folder, str(refusal), outbox)
    work_root = Path(tempfile.mkdtemp(prefix="coursehub-grading-"))
    work_root.chmod(0o711)  # each submission may enter its own folder, not list the others
    try:
        runner = Runner(folder, work_root, sandbox, batch, outbox)
        print(json.dumps({"sandbox": sandbox.describe(), "of": len(runner.keys)}), flush=True)
        return runner.run()
    finally:
        shutil.rmtree(work_root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
