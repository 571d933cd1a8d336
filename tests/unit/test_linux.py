"""The Linux helpers shared by the grading sandbox and the dev cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_python_paths_are_the_installation_not_the_current_folder(tmp_path):
    """``python -m`` puts the current folder first on sys.path; a private one (a state
    folder under pytest's 0700 temp) must not be made reachable, nor cover what holds it."""
    private = tmp_path / "state"
    private.mkdir(mode=0o700)
    script = private / "paths.py"  # its folder goes first on sys.path, as with python -m
    script.write_text("import json, coursehub.linux as l; print(json.dumps(l.python_paths()))")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=private,
        env={"PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    paths = json.loads(result.stdout)
    assert str(private) not in paths
    assert sys.base_prefix in paths
    assert str(REPO_ROOT) in paths  # where coursehub itself is
