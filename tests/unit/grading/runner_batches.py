"""Building grading batches on disk and running the grading runner over them, as a pod does:
``python -m coursehub.grading.runner FOLDER`` in a subprocess.

- ``write_batch(folder, submissions, limits, uid_base, ...)``: ``in/batch.json`` and each
  submission's ``cells.json`` and files, left world-readable as a service with umask 022
  would leave them (so only the sandbox keeps submissions apart).
- ``run_batch(folder, extra_env, sandbox=...)``: runs the runner; ``sandbox="users"`` runs it
  as a production grading pod would: without ``CAP_SYS_ADMIN`` (only the capabilities the
  chart grants), in a mount namespace where this machine's Python is readable by every
  user, as an image's files are.
- ``processes_of(uid)``, ``random_uid_base()``, ``attempts(...)``, ``text_of(cell)``.

The runner needs root (a user per submission), as the dev cluster's kubelet and CI run.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
LATER = ["x = 1", "print(x + 1)"]
MAX_OUTPUT = 100_000
LIMITS = {
    "cell_timeout": 2,
    "notebook_timeout": 60,
    "memory": 256 * 1024**2,
    "max_output": MAX_OUTPUT,
    "max_processes": 32,
    "max_restarts": 3,
}
RUN_TIMEOUT = 180
# What a production grading pod's container gets (coursehub.grading.pods.CAPABILITIES).
POD_CAPABILITIES = ["chown", "dac_override", "fowner", "kill", "setgid", "setuid"]


def world_readable_folder(prefix: str) -> Path:
    """A folder in /tmp that any user could read (pytest's tmp_path is 0700 root, which
    would keep a non-root submission out even without a sandbox)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def write_batch(
    folder: Path,
    submissions: list[dict],
    limits: dict,
    uid_base: int,
    masked_paths: list[str] = (),
    **batch_extra,
) -> list[str]:
    """``submissions``: [{"cells": [source | {"source", "shown"}, ...], "files": {name: text},
    "notebooks": {name: [cells]} (instead of "cells", for several notebooks)}, ...].
    Returns the submissions' keys."""
    (folder / "in").mkdir(parents=True)
    keys = [
        submission.get("key", f"student-{index}") for index, submission in enumerate(submissions)
    ]
    batch = {
        "limits": limits,
        "uid_base": uid_base,
        "masked_paths": list(masked_paths),
        "submissions": keys,
        "preload": [],
        **batch_extra,
    }
    (folder / "in" / "batch.json").write_text(json.dumps(batch))
    for index, submission in enumerate(submissions):
        notebooks = submission.get("notebooks") or {"ps1": submission["cells"]}
        spec = {
            "key": keys[index],
            "notebooks": [
                {
                    "name": name,
                    "cells": [_cell(position, cell) for position, cell in enumerate(cells)],
                }
                for name, cells in notebooks.items()
            ],
        }
        base = folder / "in" / str(index)
        (base / "files").mkdir(parents=True)
        (base / "cells.json").write_text(json.dumps(spec))
        for name, text in submission.get("files", {}).items():
            (base / "files" / name).write_text(text)
    for path in [folder, *folder.rglob("*")]:  # as a service with umask 022 leaves them
        path.chmod(0o755 if path.is_dir() else 0o644)
    return keys


def _cell(position: int, cell) -> dict:
    if isinstance(cell, str):
        return {"index": position, "source": cell}
    return {"index": position, **cell}


def production_pod_argv(argv: list[str]) -> list[str]:
    """``argv`` as a production grading pod runs it: a mount namespace of its own in which
    this machine's Python is readable by every user (as in an image), then only the
    capabilities the chart grants (no CAP_SYS_ADMIN: no namespaces for the runner)."""
    bounding = ",".join(["-all", *(f"+{name}" for name in POD_CAPABILITIES)])
    return [
        sys.executable,
        "-m",
        "coursehub.devcluster.imagefs",
        "--",
        "setpriv",
        f"--bounding-set={bounding}",
        "--inh-caps=-all",
        "--",
        *argv,
    ]


def run_batch(
    folder: Path,
    extra_env: dict[str, str] | None = None,
    *,
    sandbox: str = "namespaces",
    capabilities: list[str] | None = None,
    user: int | None = None,
    expect_returncode: int = 0,
) -> tuple[dict, str]:
    """Run the runner over ``folder``; returns ({index: result, "seconds": s, "stderr": …},
    stdout). ``sandbox="users"``: as a production pod (see ``production_pod_argv``);
    ``capabilities``: the bounding set to run with, e.g. ``[]`` for none at all; ``user``:
    run the runner as that (non-root) user id."""
    env = {**os.environ, **(extra_env or {})}
    env["PYTHONPATH"] = str(REPO_ROOT)
    argv = [sys.executable, "-m", "coursehub.grading.runner", str(folder)]
    if sandbox == "users":
        argv = production_pod_argv(argv)
    if capabilities is not None:
        bounding = ",".join(["-all", *(f"+{name}" for name in capabilities)])
        argv = ["setpriv", f"--bounding-set={bounding}", "--inh-caps=-all", "--", *argv]
    if user is not None:
        env["HOME"] = "/tmp"
        setpriv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"]
        argv = [sys.executable, "-m", "coursehub.devcluster.imagefs", "--", *setpriv, *argv]
    started = time.monotonic()
    process = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    assert expect_returncode is None or process.returncode == expect_returncode, (
        process.stdout + process.stderr
    )
    results: dict = {}
    for path in (folder / "out").glob("*.json"):
        if path.stem.isdigit():
            results[int(path.stem)] = json.loads(path.read_text())
    results["seconds"] = time.monotonic() - started
    results["stderr"] = process.stderr
    return results, process.stdout


def processes_of(uid: int) -> list[int]:
    """Live processes of ``uid``; zombies (killed, waiting for init to reap them) are not."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
            pids.append(int(entry.name))
    return pids


def random_uid_base() -> int:
    # Distinct per run: two test runs at once must not kill each other's processes.
    return 300_000 + secrets.randbelow(50_000) * 100


def attempts(*expressions: str) -> str:
    """A cell that tries each expression and prints what it got or the error's name."""
    lines = ["import os", "_seen = []"]
    for expression in expressions:
        lines += [
            "try:",
            f"    _seen.append(repr({expression})[:200])",
            "except Exception as error:",
            "    _seen.append(type(error).__name__)",
        ]
    lines.append("print(_seen)")
    return "\n".join(lines)


def text_of(cell: dict) -> str:
    return "".join(o.get("text", "") for o in cell["outputs"] if o["output_type"] == "stream")


def assert_later_cells_ran(cells: list[dict], first: int = 1) -> None:
    """``x = 1`` then ``print(x + 1)`` at ``first``, ``first + 1``."""
    assign, show = cells[first], cells[first + 1]
    assert assign["status"] == "ok", assign
    assert show["status"] == "ok", show
    assert text_of(show) == "2\n"
