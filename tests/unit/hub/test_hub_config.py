"""``configure(c)`` on top of z2jh's configuration, as the Helm chart runs it.

z2jh's ``jupyterhub_config.py`` fills ``c`` first and then runs ``hub.extraConfig``, where
the chart calls ``configure(c)``. ``z2jh_config()`` is what z2jh 4.4 leaves in ``c`` for
values like the chart's (idle culler on, ``hub.services.coursehub``, a ``hub.loadRoles``
entry, ``singleuser.extraEnv``, dynamic home storage); production ``configure`` must keep
all of it.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from hub_config_values import (
    COURSES,
    CULLER_ROLE,
    CULLER_SERVICE,
    HELM_ROLE,
    HELM_SERVICE,
    names,
    production_settings,
    z2jh_config,
)
from traitlets.config import Config

from coursehub.hub.config import configure, existing, extend_by_name
from coursehub.hub.settings import HubSettings


@pytest.fixture
def configured(tmp_path) -> Config:
    c = z2jh_config()
    configure(c, production_settings(tmp_path))
    return c


# What configure adds to the Helm values' coursehub service: its pages' OAuth tokens carry
# the staff scope of staff and admins (docs/auth.md).
HELM_SERVICE_CONFIGURED = {
    **HELM_SERVICE,
    "oauth_client_allowed_scopes": ["custom:coursehub:staff"],
}


def test_z2jh_services_and_roles_are_kept_and_coursehub_roles_added(configured):
    services = configured.JupyterHub.services
    assert services[:2] == [CULLER_SERVICE, HELM_SERVICE_CONFIGURED]
    assert names(services[2:]) == ["coursehub-hub"]
    roles = configured.JupyterHub.load_roles
    assert roles[:2] == [CULLER_ROLE, HELM_ROLE]
    assert names(roles[2:]) == [
        "course-ai-101-staff",
        "course-ml-201-staff",
        "coursehub-admins",
        "coursehub-service",
        "coursehub-hub",
        "coursehub-service-users",
    ]


def test_the_hub_reaches_the_service_with_a_token_scoped_to_that_service_only(configured):
    (entry,) = [s for s in configured.JupyterHub.services if s["name"] == "coursehub-hub"]
    (role,) = [r for r in configured.JupyterHub.load_roles if r["name"] == "coursehub-hub"]
    assert role["scopes"] == ["access:services!service=coursehub"]
    assert role["services"] == ["coursehub-hub"]
    client = configured.CourseSpawner.service_client()
    assert client.token == entry["api_token"] and len(client.token) >= 40
    assert client.base == "http://coursehub:8090/services/coursehub/api"


def test_course_members_may_sign_in_to_the_service_pages_listed_as_gpu_usage(tmp_path):
    c = Config()
    configure(c, production_settings(tmp_path, COURSEHUB_SERVICE_API_TOKEN="from-env"))
    service = c.JupyterHub.services[0]
    assert service["display"] and service["oauth_no_confirm"]
    assert service["info"] == {"display_name": "GPU usage", "menu": "staff"}
    (role,) = [r for r in c.JupyterHub.load_roles if r["name"] == "coursehub-service-users"]
    assert role["scopes"] == ["access:services!service=coursehub"]
    assert role["groups"] == [
        "course-ai-101-staff",
        "course-ai-101-students",
        "course-ml-201-staff",
        "course-ml-201-students",
    ]
    # coursehub's page.html (the Services menu) comes first; z2jh's paths are kept.
    c = z2jh_config()
    c.JupyterHub.template_paths = ["/etc/jupyterhub/templates"]
    configure(c, production_settings(tmp_path))
    ours, theirs = c.JupyterHub.template_paths
    assert (Path(ours) / "page.html").is_file() and theirs == "/etc/jupyterhub/templates"


def test_the_helm_values_coursehub_service_wins_over_the_settings_one(tmp_path):
    c = z2jh_config()
    configure(c, production_settings(tmp_path, COURSEHUB_SERVICE_API_TOKEN="from-env"))
    services = c.JupyterHub.services
    assert names(services) == ["jupyterhub-idle-culler", "coursehub", "coursehub-hub"]
    assert services[1] == HELM_SERVICE_CONFIGURED


def test_without_z2jh_the_settings_coursehub_service_is_added(tmp_path):
    c = Config()
    configure(c, production_settings(tmp_path, COURSEHUB_SERVICE_API_TOKEN="from-env"))
    service, _hub_client = c.JupyterHub.services
    assert service["name"] == "coursehub" and service["api_token"] == "from-env"


def test_dicts_are_updated_not_replaced(configured):
    assert configured.JupyterHub.tornado_settings == {
        "slow_spawn_timeout": 1,
        "headers": {"X-Site": "hub"},
    }
    assert configured.KubeSpawner.environment == {
        "TZ": "Europe/Zurich",
        "COURSEHUB_SERVICE_URL": "http://coursehub:8090/services/coursehub",
        "COURSEHUB_GPU_TELEMETRY_SECONDS": "30",
    }
    groups = configured.JupyterHub.load_groups
    assert groups["it-staff"] == {"users": ["it-admin"]}
    assert "course-ai-101-students" in groups and "course-ml-201-staff" in groups


def test_with_the_service_course_groups_are_created_without_members(configured):
    # the service keeps their members; load_groups could only add them back at restarts
    groups = configured.JupyterHub.load_groups
    assert groups["course-ai-101-students"] == {
        "properties": {"course": "ai-101", "role": "student"}
    }
    assert "users" not in groups["course-ml-201-staff"]
    # spawns wait for the first membership overlay from the service (a coroutine)
    ready = configured.CourseSpawner.catalog_ready()
    assert inspect.iscoroutine(ready)
    ready.close()


def test_without_the_service_course_groups_get_the_course_files_members(tmp_path):
    c = Config()
    configure(c, production_settings(tmp_path))
    assert c.JupyterHub.services == []
    groups = c.JupyterHub.load_groups
    assert groups["course-ml-201-students"]["users"] == ["student3"]
    assert groups["course-ai-101-staff"]["users"] == ["instructor1", "ta1"]


def test_z2jh_pod_basics_and_home_storage_are_left_alone(configured):
    expected = z2jh_config()
    for name in ("start_timeout", "storage_capacity", "storage_pvc_ensure", "volumes"):
        assert configured.KubeSpawner[name] == expected.KubeSpawner[name], name
    assert configured.KubeSpawner.volume_mounts == expected.KubeSpawner.volume_mounts
    # KubeSpawner.cmd would override z2jh's Spawner.cmd (singleuser.cmd)
    assert "cmd" not in configured.KubeSpawner
    assert configured.Spawner.cmd == expected.Spawner.cmd
    # the proxy binds where its Service says; JupyterHub would derive base_url from this
    assert "bind_url" not in configured.JupyterHub
    assert configured.JupyterHub.spawner_class.__name__ == "CourseSpawner"


def test_appends_to_unset_traits_count_as_configured():
    c = Config()
    c.JupyterHub.services.append({"name": "a"})
    c.KubeSpawner.environment.update({"A": "1"})
    assert existing(c.JupyterHub, "services", []) == [{"name": "a"}]
    assert existing(c.KubeSpawner, "environment", {}) == {"A": "1"}
    assert existing(c.JupyterHub, "load_roles", []) == []


def test_extend_by_name_keeps_the_first_entry_of_a_name():
    import logging

    log = logging.getLogger("test")
    merged = extend_by_name(
        [{"name": "a", "v": 1}],
        [{"name": "a", "v": 2}, {"name": "b"}, {"name": "b", "v": 3}],
        "role",
        log,
    )
    assert merged == [{"name": "a", "v": 1}, {"name": "b"}]


def test_dev_mode_sets_what_z2jh_sets_in_production(tmp_path):
    settings = HubSettings.from_environ(
        {
            "COURSEHUB_MODE": "dev",
            "CONFIGPROXY_AUTH_TOKEN": "t",
            "KUBECONFIG": str(tmp_path / "kubeconfig"),
            "COURSEHUB_COURSES_DIR": str(COURSES),
            "COURSEHUB_STATE_DIR": str(tmp_path / "state"),
            "COURSEHUB_START_TIMEOUT": "123",
        }
    )
    c = Config()
    configure(c, settings)
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000"
    assert c.KubeSpawner.cmd == ["jupyterhub-singleuser"]
    assert c.KubeSpawner.start_timeout == 123
    assert c.KubeSpawner.storage_capacity == "10Gi"
    assert c.KubeSpawner.volume_mounts == {"home": {"name": "home", "mountPath": "/home/jovyan"}}
    assert "coursehub" in names(c.JupyterHub.services)


def test_priority_class_settings_reach_the_spawner(tmp_path):
    c = z2jh_config()
    configure(
        c,
        production_settings(
            tmp_path,
            COURSEHUB_STAFF_PRIORITY_CLASS="coursehub-staff",
            COURSEHUB_STUDENT_PRIORITY_CLASS="coursehub-student",
        ),
    )
    assert c.CourseSpawner.staff_priority_class_name == "coursehub-staff"
    assert c.CourseSpawner.student_priority_class_name == "coursehub-student"
    unset = Config()
    configure(unset, production_settings(tmp_path))
    assert "staff_priority_class_name" not in unset.CourseSpawner
