"""A formgrader fails closed: coursehub's extension stops a Jupyter server that runs without
coursehub's formgrader config, and lets one with it start. Plain ``jupyter server``
processes (no hub needed), in an empty folder."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from coursehub.formgrader import config

pytestmark = pytest.mark.integration


def jupyter_server(tmp_path: Path, config_file: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            f"--config={config_file}",
            "--port=0",
            "--ServerApp.open_browser=False",
            "--allow-root",
        ],
        cwd=tmp_path,
        env={
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            **config.environment("ai-101", tmp_path / "jupyter"),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_guard_stops_a_server_without_the_formgrader_config(tmp_path):
    bare = tmp_path / "bare_config.py"
    bare.write_text(
        "c = get_config()\n"
        f"c.ServerApp.jpserver_extensions = {{{config.GUARD_EXTENSION!r}: True}}\n"
        "c.ServerApp.reraise_server_extension_failures = True\n"
    )
    server = jupyter_server(tmp_path, bare)
    try:
        output, _ = server.communicate(timeout=120)
    finally:
        server.kill()
    assert server.returncode != 0, output
    assert "The formgrader will not start:" in output
    assert "terminals are enabled" in output
    assert "the kernel manager is" in output
    assert "unexpected server extensions" in output and "jupyterlab" in output


def test_with_the_formgrader_config_the_server_starts(tmp_path):
    server = jupyter_server(tmp_path, config.SERVER_CONFIG_FILE)
    lines = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Jupyter Server" in line and "is running at" in line:
                break
    finally:
        server.kill()
        server.wait()
    output = "".join(lines)
    assert "coursehub formgrader: no kernels, no terminals, Autograde refused" in output, output
    assert "is running at" in output, output
