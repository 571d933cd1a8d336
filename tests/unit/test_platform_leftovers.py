"""``platforms.running_platform``'s last check: a process of the platform that outlives
``stop()`` fails the test, named, and is killed. Checked on a stand-in platform (a state
folder and no parts) with real processes."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
from platforms import assert_no_processes_left, leftover_processes

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_process_working_in_the_state_folder_is_a_leftover_and_is_killed(tmp_path):
    state = tmp_path / "state"
    (state / "pods" / "p1").mkdir(parents=True)
    platform = SimpleNamespace(state_dir=state, parts={})
    pod = subprocess.Popen(SLEEP, cwd=state / "pods" / "p1")
    try:
        assert pod.pid in leftover_processes(platform)
        with pytest.raises(AssertionError, match=rf"still ran after stop\(\):\n  {pod.pid}: "):
            assert_no_processes_left(platform, wait=0.5)
        assert pod.wait(timeout=10) == -9
    finally:
        pod.kill()
        pod.wait()


def test_an_environment_naming_the_state_folder_counts_and_a_sibling_folder_does_not(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    platform = SimpleNamespace(state_dir=state, parts={})
    env = {"COURSEHUB_STATE_DIR": str(state)}
    sibling = {"COURSEHUB_STATE_DIR": f"{state}2"}
    hub = subprocess.Popen(SLEEP, cwd=tmp_path, env=env)
    other = subprocess.Popen(SLEEP, cwd=tmp_path, env=sibling)
    try:
        found = leftover_processes(platform)
        assert hub.pid in found and other.pid not in found
    finally:
        for process in (hub, other):
            process.kill()
            process.wait()
    assert_no_processes_left(platform, wait=0.5)  # nothing left: passes
