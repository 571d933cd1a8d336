"""The hub's service entry of each course's formgrader (``grader_services``): coursehub's
formgrader command and environment, in the course folder, in dev only."""

from __future__ import annotations

import os
from pathlib import Path

from coursehub.formgrader import config as formgrader
from coursehub.hub.services import DIE_WITH_HUB, grader_services
from coursehub.hub.settings import HubSettings


def settings(tmp_path: Path, mode: str) -> HubSettings:
    return HubSettings.from_environ(
        {
            "COURSEHUB_MODE": mode,
            "CONFIGPROXY_AUTH_TOKEN": "t",
            "KUBECONFIG": str(tmp_path / "kubeconfig"),
            "COURSEHUB_COURSES_DIR": str(tmp_path / "courses"),
            "COURSEHUB_STATE_DIR": str(tmp_path / "state"),
        }
    )


def test_each_course_gets_a_formgrader_with_coursehubs_config(tmp_path, catalog):
    dev = settings(tmp_path, "dev")
    entries = grader_services(dev, catalog, {"ai-101": 9101, "ml-201": 9201})
    assert [entry["name"] for entry in entries] == ["grader-ai-101", "grader-ml-201"]
    entry = entries[0]
    assert entry["url"].endswith(":9101")
    assert entry["cwd"] == str(dev.service_data_dir / "workspaces/ai-101")
    assert entry["command"] == [
        *DIE_WITH_HUB,
        *formgrader.command(allow_root=os.geteuid() == 0),
    ]
    own = dev.state_dir / "formgraders/ai-101"
    assert entry["environment"] == {
        "COURSEHUB_SERVICE_URL": f"{dev.service_url}/services/coursehub",
        "PYTHONUNBUFFERED": "1",
        **formgrader.environment("ai-101", own),
    }
    # Jupyter's own files stay out of the course folder staff reach.
    assert Path(entry["cwd"]) not in own.parents


def test_no_formgrader_outside_dev(tmp_path, catalog):
    assert grader_services(settings(tmp_path, "production"), catalog, {}) == []
