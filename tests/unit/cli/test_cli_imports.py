"""The staff commands start light: ``coursehub usage``, ``gpu``, ``roster``, ``assignment`` and
``grades`` never import nbgrader (they only talk HTTP to the service), and ``coursehub course
validate`` imports neither JupyterHub, the Kubernetes client, nbgrader nor requests.

Each case runs the real command in a subprocess under ``python -X importtime``, which lists
every module the process imported on stderr, so lazy imports inside functions count too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Nothing listens on port 9 (discard) of this machine: the call fails with "cannot reach".
UNREACHABLE = ("--hub-url", "http://127.0.0.1:9")
STAFF_COMMANDS = [
    ("usage", "--help"),
    ("usage", *UNREACHABLE),
    ("gpu", "--help"),
    ("gpu", "sessions", *UNREACHABLE),
    ("gpu", "grant", "ai-101", "student1", "2", *UNREACHABLE),
    ("roster", "--help"),
    ("roster", "show", "ai-101", *UNREACHABLE),
    ("assignment", "status", "ai-101", "ps1", *UNREACHABLE),
    ("grades", "export", "ai-101", *UNREACHABLE),
    ("grades", "push", "ai-101", "ps1", *UNREACHABLE),
    ("assignment", "extensions", "ai-101", *UNREACHABLE),
    (
        "assignment",
        "extend-all",
        "ai-101",
        "student1",
        "--minutes",
        "5",
        "--reason",
        "x",
        *UNREACHABLE,
    ),
]


def run_coursehub(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime -m coursehub ARGS``; return the result (stderr without the
    import lines) and the names of every module it imported."""
    environ = {name: value for name, value in os.environ.items() if name != "COURSEHUB_HUB_URL"}
    environ["COURSEHUB_TOKEN"] = "not-a-real-token"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "coursehub", *args],
        cwd=cwd,  # an empty folder: no .coursehub-dev state to find
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stderr.splitlines()
    modules = {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}
    result.stderr = "\n".join(line for line in lines if not line.startswith("import time:"))
    return result, modules


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize("args", STAFF_COMMANDS, ids=" ".join)
def test_staff_commands_do_not_import_nbgrader(args, tmp_path):
    result, modules = run_coursehub(*args, cwd=tmp_path)
    assert "coursehub.cli" in modules  # the probe sees what the command imported
    if "--help" in args:
        assert result.returncode == 0, result.stderr
    else:  # it went as far as asking the service, through the HTTP client
        assert result.returncode == 2, result.stderr
        assert "cannot reach the coursehub service through http://127.0.0.1:9" in result.stderr
        assert "requests" in modules
    assert "nbgrader" not in top_level(modules)


def test_course_validate_imports_no_hub_kubernetes_nbgrader_or_http_client(tmp_path):
    result, modules = run_coursehub("course", "validate", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1 and "no course found under" in result.stderr
    assert "coursehub.catalog.loader" in modules
    heavy = {"jupyterhub", "kubernetes_asyncio", "kubernetes", "nbgrader", "requests"}
    assert top_level(modules) & heavy == set()
