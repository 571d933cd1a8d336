"""What ``configure`` lets tokens do with the coursehub service: the staff scope is defined
and held by staff, admins and formgraders only; notebook servers' tokens call the service
as their owner without it; visitors' tokens left in servers cannot call it at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from hub_config_values import COURSES, names, production_settings, z2jh_config
from traitlets.config import Config

from coursehub.hub.config import configure
from coursehub.hub.settings import HubSettings, SettingsError
from coursehub.hub.token_scopes import (
    ServerScopeError,
    check_oauth_client_scopes,
    server_token_scopes,
)

STAFF = "custom:coursehub:staff"
ACCESS = "access:services!service=coursehub"


def dev_config(tmp_path: Path) -> Config:
    settings = HubSettings.from_environ(
        {
            "COURSEHUB_MODE": "dev",
            "CONFIGPROXY_AUTH_TOKEN": "t",
            "KUBECONFIG": str(tmp_path / "kubeconfig"),
            "COURSEHUB_COURSES_DIR": str(COURSES),
            "COURSEHUB_STATE_DIR": str(tmp_path / "state"),
            "COURSEHUB_DEV_ADMIN_TOKEN": "a" * 64,
        }
    )
    c = Config()
    configure(c, settings)
    return c


def roles_of(c: Config) -> dict[str, dict]:
    return {role["name"]: role for role in c.JupyterHub.load_roles}


def test_the_staff_scope_is_defined_and_held_by_staff_admins_and_formgraders(tmp_path):
    c = dev_config(tmp_path)
    assert STAFF in c.JupyterHub.custom_scopes
    assert "description" in c.JupyterHub.custom_scopes[STAFF]
    holders = sorted(name for name, role in roles_of(c).items() if STAFF in role["scopes"])
    assert holders == [
        "course-ai-101-staff",
        "course-ml-201-staff",
        "coursehub-admins",
        "coursehub-dev-admin",
        "coursehub-graders",
    ]
    graders = roles_of(c)["coursehub-graders"]
    assert graders["services"] == ["grader-ai-101", "grader-ml-201"]
    assert graders["scopes"] == [ACCESS, STAFF]
    assert set(graders["services"]) <= set(names(c.JupyterHub.services))
    assert "coursehub-admins" in c.JupyterHub.load_groups


def test_server_tokens_call_the_service_without_staff_powers(tmp_path):
    c = dev_config(tmp_path)
    assert c.CourseSpawner.server_token_scopes == [
        "users:activity!user",
        "access:servers!server",
        ACCESS,
    ]
    # every user may call the service (it decides what they may do there), so a server's
    # token gets the scope whatever the groups say at its start
    assert c.JupyterHub.extra_user_scopes == [ACCESS]
    # visitors' tokens: JupyterHub's default (reach the server only)
    assert "oauth_client_allowed_scopes" not in c.CourseSpawner


def test_the_services_own_pages_get_staff_scoped_tokens(tmp_path):
    (service,) = [s for s in dev_config(tmp_path).JupyterHub.services if s["name"] == "coursehub"]
    assert service["oauth_client_allowed_scopes"] == [STAFF]


def test_configured_server_token_scopes_are_kept_and_extended(tmp_path):
    c = z2jh_config()
    c.KubeSpawner.server_token_scopes = ["users:activity!user", "read:users:name!user"]
    configure(c, production_settings(tmp_path, COURSEHUB_SERVICE_API_TOKEN="t"))
    assert c.CourseSpawner.server_token_scopes == [
        "users:activity!user",
        "read:users:name!user",
        ACCESS,
    ]


async def test_a_callable_server_token_scopes_is_wrapped(tmp_path):
    c = z2jh_config()

    async def theirs(spawner):
        return ["users:activity!user", "access:servers!server"]

    c.Spawner.server_token_scopes = theirs
    configure(c, production_settings(tmp_path, COURSEHUB_SERVICE_API_TOKEN="t"))
    assert (await c.CourseSpawner.server_token_scopes(None))[-1] == ACCESS


@pytest.mark.parametrize(
    ("section", "trait", "scopes", "words"),
    [
        ("Spawner", "server_token_scopes", ["inherit"], "server_token_scopes must not contain"),
        ("KubeSpawner", "server_token_scopes", [STAFF], STAFF),
        ("Spawner", "oauth_client_allowed_scopes", [ACCESS], "oauth_client_allowed_scopes"),
        ("CourseSpawner", "oauth_client_allowed_scopes", ["access:services"], "stays in"),
        ("KubeSpawner", "oauth_client_allowed_scopes", [f"{STAFF}!user=x"], STAFF),
    ],
)
def test_a_configuration_giving_servers_staff_powers_is_refused(
    tmp_path, section, trait, scopes, words
):
    c = z2jh_config()
    setattr(getattr(c, section), trait, scopes)
    with pytest.raises(SettingsError, match="must not contain") as refused:
        configure(c, production_settings(tmp_path, COURSEHUB_SERVICE_API_TOKEN="t"))
    assert words in str(refused.value)


def test_the_pure_checks():
    assert server_token_scopes(None, "coursehub")[-1] == ACCESS
    assert server_token_scopes([ACCESS], "coursehub") == [ACCESS]
    with pytest.raises(ServerScopeError):
        server_token_scopes(["custom:coursehub:staff:extra"], "coursehub")
    check_oauth_client_scopes(["read:users:name!user", "access:services!service=other"], "x")
    with pytest.raises(ServerScopeError):
        check_oauth_client_scopes(["inherit"], "coursehub")
