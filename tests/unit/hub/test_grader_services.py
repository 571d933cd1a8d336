"""The hub's service entry of each course's formgrader (``grader_services``): in dev, a
managed service running ``coursehub formgrader serve`` in the course folder; with the chart's
registry, external services with their tokens."""

from __future__ import annotations

import sys
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
    assert entry["oauth_no_confirm"] is True
    workspace = dev.service_data_dir / "workspaces/ai-101"
    own = dev.state_dir / "formgraders/ai-101"
    # The command the chart's containers run too (coursehub.cli.formgrader).
    assert entry["command"] == [
        *DIE_WITH_HUB,
        sys.executable,
        "-m",
        "coursehub",
        "formgrader",
        "serve",
        "ai-101",
        f"--workspace={workspace}",
        f"--jupyter-dir={own}",
    ]
    assert entry["environment"] == {
        "COURSEHUB_SERVICE_URL": f"{dev.service_url}/services/coursehub",
        "PYTHONUNBUFFERED": "1",
    }
    # What `serve` executes: coursehub's formgrader config, Jupyter's own files outside
    # the course folder staff reach.
    started = formgrader.launch("ai-101", workspace, own, allow_root=False)
    assert started.argv == formgrader.command(allow_root=False)
    assert started.cwd == workspace
    assert started.environment == formgrader.environment("ai-101", own)
    assert workspace not in own.parents


def test_no_formgrader_outside_dev_without_the_charts_registry(tmp_path, catalog):
    assert grader_services(settings(tmp_path, "production"), catalog, {}) == []


def test_the_charts_formgraders_are_external_services_of_catalog_courses(tmp_path, catalog):
    registry = {
        "ai-101": ("http://coursehub-service:9000", "token-a"),
        "gone-999": ("http://coursehub-service:9009", "token-g"),  # not in the catalog
    }
    for mode in ("production", "dev"):
        entries = grader_services(settings(tmp_path, mode), catalog, {}, registry)
        assert entries == [
            {
                "name": "grader-ai-101",
                "display": True,
                "info": {"course": "ai-101", "kind": "formgrader"},
                "url": "http://coursehub-service:9000",
                "oauth_no_confirm": True,
                "api_token": "token-a",
            }
        ]
