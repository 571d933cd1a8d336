"""Each step of ``configure`` on its own, TLJH-style: a fresh ``Config()``, one step, single
traits asserted; the steps set values and never change what they were given; and the side
effects are dev's ``prepare_dev_state``, never production's ``configure``."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pytest
from traitlets.config import Config

from coursehub.catalog import load_catalog
from coursehub.catalog.sync import CatalogSync
from coursehub.dev.platform import prepare_grader_workspaces
from coursehub.formgrader.config import check_workspace
from coursehub.hub.auth import ADMIN_USERNAME, DemoAuthenticator
from coursehub.hub.auth_settings import LTISettings, OIDCSettings
from coursehub.hub.config import (
    DEV_ADMIN_SERVICE,
    TEMPLATES,
    DevState,
    configure,
    configure_auth,
    configure_groups_and_roles,
    configure_hub_and_proxy,
    configure_lti,
    configure_oidc,
    configure_services,
    configure_spawner,
    configured_services,
    hub_service_client,
    prepare_dev_state,
)
from coursehub.hub.lti import CourseLTIAuthenticator
from coursehub.hub.oidc import CourseOIDCAuthenticator
from coursehub.hub.settings import HubSettings

COURSES = Path(__file__).resolve().parents[3] / "courses"
STAFF = "custom:coursehub:staff"


def settings_environ(tmp_path: Path, mode: str = "production", **environ: str) -> dict:
    dev = {"KUBECONFIG": str(tmp_path / "kubeconfig")} if mode == "dev" else {}
    return {
        "COURSEHUB_MODE": mode,
        "CONFIGPROXY_AUTH_TOKEN": "proxy-token",
        "COURSEHUB_COURSES_DIR": str(COURSES),
        "COURSEHUB_STATE_DIR": str(tmp_path / "state"),
        **dev,
        **environ,
    }


def hub_settings(tmp_path: Path, mode: str = "production", **environ: str) -> HubSettings:
    return HubSettings.from_environ(settings_environ(tmp_path, mode, **environ))


@pytest.fixture
def sync() -> CatalogSync:
    return CatalogSync(COURSES, logging.getLogger("test"))


def names(entries: list[dict]) -> list[str]:
    return [entry["name"] for entry in entries]


# ----- hub and proxy -------------------------------------------------------------------


def test_hub_and_proxy_production(tmp_path):
    c = Config()
    settings = hub_settings(tmp_path)
    configure_hub_and_proxy(c, settings)
    assert c.JupyterHub.hub_bind_url == "http://0.0.0.0:8081"
    assert c.JupyterHub.hub_connect_url == "http://hub:8081"
    assert c.ConfigurableHTTPProxy.should_start is False
    assert c.ConfigurableHTTPProxy.api_url == "http://proxy-api:8001"
    assert c.ConfigurableHTTPProxy.auth_token == "proxy-token"
    assert c.JupyterHub.cookie_secret_file == str(settings.state_dir / "jupyterhub_cookie_secret")
    assert c.JupyterHub.cleanup_servers is False
    assert c.JupyterHub.allow_named_servers is False
    assert c.JupyterHub.tornado_settings == {"slow_spawn_timeout": 1}
    assert "bind_url" not in c.JupyterHub  # the proxy's Service decides


def test_hub_and_proxy_dev_binds_the_public_url(tmp_path):
    c = Config()
    configure_hub_and_proxy(c, hub_settings(tmp_path, "dev"))
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000"


def test_our_templates_come_first_once_however_often_the_step_runs(tmp_path):
    c = Config()
    c.JupyterHub.template_paths = ["/etc/jupyterhub/templates"]
    settings = hub_settings(tmp_path)
    configure_hub_and_proxy(c, settings)
    configure_hub_and_proxy(c, settings)
    assert c.JupyterHub.template_paths == [str(TEMPLATES), "/etc/jupyterhub/templates"]


# ----- spawner -------------------------------------------------------------------------


def test_spawner_production_leaves_the_pod_basics_to_z2jh(tmp_path, sync):
    c = Config()
    configure_spawner(c, hub_settings(tmp_path), sync)
    assert c.JupyterHub.spawner_class.__name__ == "CourseSpawner"
    assert c.CourseSpawner.catalog() is sync.current()
    assert c.Spawner.default_url == "/lab"
    assert c.KubeSpawner.image_pull_policy == "IfNotPresent"
    assert c.KubeSpawner.environment == {
        "COURSEHUB_SERVICE_URL": "http://coursehub:8090/services/coursehub",
        "COURSEHUB_GPU_TELEMETRY_SECONDS": "30",
    }
    for trait in ("namespace", "cmd", "start_timeout", "storage_pvc_ensure", "volumes"):
        assert trait not in c.KubeSpawner, trait
    assert "staff_priority_class_name" not in c.CourseSpawner


def test_spawner_dev_sets_the_pod_basics(tmp_path, sync):
    c = Config()
    configure_spawner(c, hub_settings(tmp_path, "dev", COURSEHUB_START_TIMEOUT="77"), sync)
    assert c.KubeSpawner.namespace == "default"
    assert c.KubeSpawner.cmd == ["jupyterhub-singleuser"]
    assert c.KubeSpawner.start_timeout == 77
    assert c.KubeSpawner.storage_capacity == "10Gi"
    assert "JUPYTER_CONFIG_PATH" in c.KubeSpawner.environment


def test_spawner_dev_without_home_claims(tmp_path, sync):
    c = Config()
    configure_spawner(c, hub_settings(tmp_path, "dev", COURSEHUB_HOME_PVC="0"), sync)
    assert c.KubeSpawner.storage_pvc_ensure is False
    assert "storage_capacity" not in c.KubeSpawner and "volumes" not in c.KubeSpawner


def test_spawner_priority_classes(tmp_path, sync):
    c = Config()
    settings = hub_settings(tmp_path, COURSEHUB_STAFF_PRIORITY_CLASS="staff-first")
    configure_spawner(c, settings, sync)
    assert c.CourseSpawner.staff_priority_class_name == "staff-first"
    assert "student_priority_class_name" not in c.CourseSpawner


# ----- services ------------------------------------------------------------------------


def test_services_production_without_a_token_add_nothing(tmp_path, sync):
    c = Config()
    c.JupyterHub.services = [{"name": "jupyterhub-idle-culler"}]
    services = configured_services(c, hub_settings(tmp_path), sync.current(), None)
    assert names(services) == ["jupyterhub-idle-culler"]


def test_services_dev_run_the_service_a_formgrader_per_course_and_the_admin_token(tmp_path, sync):
    settings = hub_settings(tmp_path, "dev", COURSEHUB_DEV_ADMIN_TOKEN="a" * 64)
    ports = DevState(grader_ports={"ai-101": 9101, "ml-201": 9201})
    services = configured_services(Config(), settings, sync.current(), ports)
    assert names(services) == ["coursehub", "grader-ai-101", "grader-ml-201", DEV_ADMIN_SERVICE]
    assert services[1]["url"].endswith(":9101") and services[2]["url"].endswith(":9201")


def test_with_the_service_the_hub_gets_its_own_identity_and_its_pages_the_staff_scope(
    tmp_path,
):
    settings = hub_settings(tmp_path, COURSEHUB_SERVICE_API_TOKEN="from-env")
    given = [{"name": "coursehub", "api_token": "from-env", "url": "http://coursehub:8090"}]
    kept = copy.deepcopy(given)
    client = hub_service_client(settings)
    c = Config()
    configure_services(c, given, client)
    assert given == kept  # set, never mutated
    service, hub_client = c.JupyterHub.services
    assert service["oauth_client_allowed_scopes"] == [STAFF]
    assert hub_client == {"name": "coursehub-hub", "api_token": client.token, "display": False}
    assert c.JupyterHub.extra_user_scopes == ["access:services!service=coursehub"]
    assert client.base == "http://coursehub:8090/services/coursehub/api"


def test_without_the_service_no_token_rules_are_set():
    c = Config()
    configure_services(c, [], None)
    assert c.JupyterHub.services == []
    assert "extra_user_scopes" not in c.JupyterHub
    assert "server_token_scopes" not in c.CourseSpawner


def test_the_hub_client_token_is_fresh_at_every_start_unless_dev_fixes_it(tmp_path):
    settings = hub_settings(tmp_path)
    assert hub_service_client(settings).token != hub_service_client(settings).token
    fixed = hub_settings(tmp_path, "dev", COURSEHUB_DEV_HUB_CLIENT_TOKEN="t" * 40)
    assert hub_service_client(fixed).token == "t" * 40


# ----- groups and roles ----------------------------------------------------------------


def test_groups_and_roles_with_the_service(tmp_path, sync):
    c = Config()
    settings = hub_settings(tmp_path, COURSEHUB_SERVICE_API_TOKEN="t")
    services = [{"name": "coursehub"}, {"name": "grader-ai-101"}]
    configure_groups_and_roles(c, settings, sync.current(), services, hub_service_client(settings))
    assert "users" not in c.JupyterHub.load_groups["course-ai-101-students"]
    roles = {role["name"]: role for role in c.JupyterHub.load_roles}
    assert {"coursehub-service", "coursehub-hub", "coursehub-service-users"} <= roles.keys()
    assert roles["coursehub-graders"]["services"] == ["grader-ai-101"]
    assert STAFF in c.JupyterHub.custom_scopes


def test_groups_and_roles_without_the_service(tmp_path, sync):
    c = Config()
    configure_groups_and_roles(c, hub_settings(tmp_path), sync.current(), [], None)
    assert c.JupyterHub.load_groups["course-ml-201-students"]["users"] == ["student3"]
    assert names(c.JupyterHub.load_roles) == [
        "course-ai-101-staff",
        "course-ml-201-staff",
        "coursehub-admins",
    ]


def test_the_dev_admin_token_gets_admin_and_staff_scopes(tmp_path, sync):
    c = Config()
    settings = hub_settings(tmp_path, "dev", COURSEHUB_DEV_ADMIN_TOKEN="a" * 64)
    configure_groups_and_roles(c, settings, sync.current(), [], None)
    (role,) = [r for r in c.JupyterHub.load_roles if r["name"] == "coursehub-dev-admin"]
    assert role["services"] == [DEV_ADMIN_SERVICE]
    assert "admin:users" in role["scopes"] and STAFF in role["scopes"]


def test_group_admins_are_the_ones_the_auth_step_set(tmp_path, sync):
    c = Config()
    c.Authenticator.admin_users = {"dean"}
    configure_groups_and_roles(c, hub_settings(tmp_path), sync.current(), [], None)
    assert "dean" in c.JupyterHub.load_groups["coursehub-admins"]["users"]


# ----- auth ----------------------------------------------------------------------------

OIDC = OIDCSettings(
    issuer="https://sso.example.edu",
    client_id="coursehub",
    client_secret="s3cret",
    authorize_url="https://sso.example.edu/auth",
    token_url="https://sso.example.edu/token",
    jwks_url="https://sso.example.edu/jwks",
    admin_values=("coursehub:admin",),
)
LTI = LTISettings(
    issuer="https://canvas.instructure.com",
    client_ids=("1", "2"),
    authorize_url="https://lms.example.edu/authorize",
    jwks_url="https://lms.example.edu/jwks",
)


def test_oidc_step(tmp_path):
    c = Config()
    section = configure_oidc(c, OIDC, hub_settings(tmp_path))
    assert c.JupyterHub.authenticator_class is CourseOIDCAuthenticator
    assert section.client_secret == "s3cret"
    assert section.jwks_url == "https://sso.example.edu/jwks"
    assert section.userdata_url == ""
    assert section.admin_values == ["coursehub:admin"]
    assert "oauth_callback_url" not in section  # production: from the request


def test_oidc_step_dev_calls_back_to_the_public_url(tmp_path):
    c = Config()
    section = configure_oidc(c, OIDC, hub_settings(tmp_path, "dev"))
    assert section.oauth_callback_url == "http://127.0.0.1:8000/hub/oauth_callback"


def test_lti_step_production_allows_the_cross_site_launch(tmp_path):
    c = Config()
    c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 1}
    section = configure_lti(c, LTI, hub_settings(tmp_path))
    assert c.JupyterHub.authenticator_class is CourseLTIAuthenticator
    assert section.client_id == {"1", "2"}
    assert c.JupyterHub.tornado_settings == {
        "slow_spawn_timeout": 1,
        "cookie_options": {"samesite": "None", "secure": True},
    }
    assert section.spawn_tickets() is c.CourseSpawner.spawn_tickets()


def test_lti_step_dev_keeps_jupyterhubs_cookies(tmp_path):
    c = Config()
    configure_lti(c, LTI, hub_settings(tmp_path, "dev"))
    assert "tornado_settings" not in c.JupyterHub


def test_auth_step_without_coursehub_auth_leaves_the_authenticator_alone(tmp_path, sync):
    c = Config()
    c.JupyterHub.authenticator_class = "generic-oauth"
    configure_auth(c, hub_settings(tmp_path), sync, None)
    assert c.JupyterHub.authenticator_class == "generic-oauth"
    assert "admin_users" not in c.Authenticator


def test_auth_step_demo_sets_the_demo_accounts_without_writing_them(tmp_path, sync):
    c = Config()
    settings = hub_settings(tmp_path, "dev", COURSEHUB_ADMIN_USERS="dean")
    configure_auth(c, settings, sync, None)
    assert c.JupyterHub.authenticator_class is DemoAuthenticator
    assert c.Authenticator.admin_users == {ADMIN_USERNAME, "dean"}
    assert "student1" in c.DemoAuthenticator.known_usernames()
    assert not settings.demo_passwords_file.exists()  # prepare_dev_state's


def test_auth_step_gives_the_authenticator_the_catalog_and_the_service(tmp_path, sync):
    c = Config()
    settings = hub_settings(tmp_path, COURSEHUB_SERVICE_API_TOKEN="t", **oidc_environ())
    client = hub_service_client(settings)
    configure_auth(c, settings, sync, client)
    section = c.CourseOIDCAuthenticator
    assert section.service_client() is client
    assert section.catalog() is sync.current()
    assert section.identity_bindings == {}


def oidc_environ() -> dict[str, str]:
    return {
        "COURSEHUB_AUTH": "oidc",
        "COURSEHUB_OIDC_ISSUER": OIDC.issuer,
        "COURSEHUB_OIDC_CLIENT_ID": OIDC.client_id,
        "COURSEHUB_OIDC_CLIENT_SECRET": OIDC.client_secret,
        "COURSEHUB_OIDC_AUTHORIZE_URL": OIDC.authorize_url,
        "COURSEHUB_OIDC_TOKEN_URL": OIDC.token_url,
        "COURSEHUB_OIDC_JWKS_URL": OIDC.jwks_url,
    }


# ----- side effects --------------------------------------------------------------------


def test_production_configure_writes_nothing(tmp_path):
    before = sorted(COURSES.rglob("*"))
    configure(Config(), hub_settings(tmp_path, COURSEHUB_SERVICE_API_TOKEN="t"))
    assert list(tmp_path.iterdir()) == []  # not even the state folder: z2jh's volume
    assert sorted(COURSES.rglob("*")) == before


def test_prepare_dev_state_makes_what_the_dev_hub_needs(tmp_path, sync):
    settings = hub_settings(tmp_path, "dev")
    state = prepare_dev_state(settings, sync)
    assert settings.state_dir.is_dir()
    catalog = load_catalog(COURSES)
    assert state.grader_ports.keys() == catalog.courses.keys()
    assert len(set(state.grader_ports.values())) == len(catalog.courses)
    passwords = json.loads(settings.demo_passwords_file.read_text())
    assert passwords.keys() == catalog.usernames() | {ADMIN_USERNAME}


def test_prepare_dev_state_writes_no_passwords_for_another_authenticator(tmp_path, sync):
    settings = hub_settings(tmp_path, "dev", **oidc_environ())
    prepare_dev_state(settings, sync)
    assert not settings.demo_passwords_file.exists()


def test_dev_configure_runs_its_formgraders_in_the_workspaces_coursehub_dev_prepared(tmp_path):
    settings = hub_settings(tmp_path, "dev")
    # coursehub dev lays out the service's course folders before it starts the hub: the hub
    # does not import the service (tests/unit/test_layering.py).
    prepare_grader_workspaces(settings_environ(tmp_path, "dev"))
    c = Config()
    sync = configure(c, settings)
    graders = [s for s in c.JupyterHub.services if s["name"].startswith("grader-")]
    assert names(graders) == ["grader-ai-101", "grader-ml-201"]
    for grader in graders:
        # The workspace `coursehub formgrader serve` starts in (it refuses an unprepared one).
        (workspace,) = [
            Path(arg.removeprefix("--workspace="))
            for arg in grader["command"]
            if arg.startswith("--workspace=")
        ]
        check_workspace(workspace)
        assert (workspace / "nbgrader_config.py").is_file(), grader["name"]
    assert sync.current().courses.keys() == {"ai-101", "ml-201"}
