"""``coursehub doctor`` as a command: what it needs to start, where it finds the
kubeconfig, and how its findings end."""

from __future__ import annotations

import io
import subprocess
import sys

from coursehub.cli.doctor import kubeconfig_path, show
from coursehub.cli.doctor_findings import Finding


def test_without_a_hub_url_it_says_how_to_give_one(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "coursehub", "doctor", "--state-dir", str(tmp_path / "none")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "coursehub doctor: no hub URL: pass --hub-url" in result.stderr


def test_kubeconfig_comes_from_the_flag_then_the_environment_then_dev_then_home(
    tmp_path, monkeypatch
):
    flag = tmp_path / "flag"
    assert kubeconfig_path(flag, tmp_path) == flag
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'first'}:{tmp_path / 'second'}")
    assert kubeconfig_path(None, tmp_path) == tmp_path / "first"
    monkeypatch.delenv("KUBECONFIG")
    (tmp_path / "kubeconfig").write_text("")
    assert kubeconfig_path(None, tmp_path) == tmp_path / "kubeconfig"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert kubeconfig_path(None, tmp_path / "elsewhere") == tmp_path / "home" / ".kube" / "config"


def shown(*findings: Finding) -> list[str]:
    out = io.StringIO()
    show(list(findings), out)
    return out.getvalue().splitlines()


def test_the_last_line_counts_problems_and_warnings():
    ok = Finding("ok", "hub", "answers")
    warning = Finding("warning", "storage", "two defaults")
    problem = Finding("problem", "token", "refused")
    assert shown(ok) == ["✓ hub: answers", "Everything checked is fine."]
    assert shown(ok, warning)[-1] == "No problem found; 1 warning(s) (!) to read."
    assert shown(ok, warning, problem) == [
        "✓ hub: answers",
        "! storage: two defaults",
        "✗ token: refused",
        "1 problem(s) found.",
    ]
