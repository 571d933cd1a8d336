"""Settings objects never show a secret in repr() or str() (security review §14): a settings
object ends up in a log line or a traceback sooner or later. Each is built the way the
program builds it, with known secret values, and its text is searched for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursehub.cli.connection import Connection
from coursehub.dev import PlatformConfig
from coursehub.hub.auth_settings import AuthSettings
from coursehub.hub.settings import HubSettings
from coursehub.service.settings import ServiceSettings

SECRETS = {
    "proxy": "proxy-token-8c1f0e",
    "admin": "admin-token-77d2aa",
    "service": "service-api-token-4be913",
    "client": "hub-client-token-d00a51",
    "oidc": "oidc-client-secret-19f6c2",
    "db": "db-password-5e0b7d",
    "cookie": "c00c1e5ec12e7a11",
}


def shown(obj) -> str:
    return repr(obj) + "\n" + str(obj)


def assert_no_secret(obj) -> None:
    text = shown(obj)
    leaked = [name for name, value in SECRETS.items() if value in text]
    assert leaked == [], f"{type(obj).__name__} shows the {leaked} secret(s): {text}"


def test_hub_settings_hide_tokens_the_client_secret_and_the_db_password():
    dev = HubSettings.from_environ(
        {
            "COURSEHUB_MODE": "dev",
            "CONFIGPROXY_AUTH_TOKEN": SECRETS["proxy"],
            "COURSEHUB_DEV_ADMIN_TOKEN": SECRETS["admin"],
            "COURSEHUB_DEV_HUB_CLIENT_TOKEN": SECRETS["client"],
            "COURSEHUB_DB_URL": f"postgresql://hub:{SECRETS['db']}@db/hub",
            "COURSEHUB_SERVICE_DB_URL": f"postgresql://svc:{SECRETS['db']}@db/svc",
            "KUBECONFIG": "/tmp/kubeconfig",
        }
    )
    assert dev.admin_token == SECRETS["admin"]  # really built with the secrets
    assert dev.service_db_url and SECRETS["db"] in dev.service_db_url
    assert_no_secret(dev)
    production = HubSettings.from_environ(
        {
            "COURSEHUB_MODE": "production",
            "CONFIGPROXY_AUTH_TOKEN": SECRETS["proxy"],
            "COURSEHUB_SERVICE_API_TOKEN": SECRETS["service"],
            "COURSEHUB_DB_URL": f"postgresql://hub:{SECRETS['db']}@db/hub",
            "COURSEHUB_AUTH": "oidc",
            "COURSEHUB_OIDC_ISSUER": "https://sso.example.edu/realms/university",
            "COURSEHUB_OIDC_CLIENT_ID": "coursehub",
            "COURSEHUB_OIDC_CLIENT_SECRET": SECRETS["oidc"],
            "COURSEHUB_OIDC_AUTHORIZE_URL": "https://sso.example.edu/auth",
            "COURSEHUB_OIDC_TOKEN_URL": "https://sso.example.edu/token",
            "COURSEHUB_OIDC_JWKS_URL": "https://sso.example.edu/jwks",
        }
    )
    assert production.auth.oidc.client_secret == SECRETS["oidc"]
    assert production.service_api_token == SECRETS["service"]
    assert_no_secret(production)
    assert_no_secret(production.auth)
    assert_no_secret(production.auth.oidc)
    # What is not secret still shows, so the repr stays useful.
    assert "https://sso.example.edu/realms/university" in repr(production.auth.oidc)


def test_service_settings_hide_the_hub_token_the_cookie_secret_and_the_db_password():
    settings = ServiceSettings.from_environ(
        {
            "JUPYTERHUB_API_TOKEN": SECRETS["service"],
            "COURSEHUB_SERVICE_COOKIE_SECRET": SECRETS["cookie"],
            "COURSEHUB_SERVICE_DB_URL": f"postgresql://svc:{SECRETS['db']}@db/svc",
        }
    )
    assert settings.cookie_secret == SECRETS["cookie"]
    assert_no_secret(settings)


def test_dev_platform_config_hides_its_tokens():
    config = PlatformConfig(
        state_dir=Path("/tmp/state"),
        courses_dir=Path("/tmp/courses"),
        admin_token=SECRETS["admin"],
        proxy_auth_token=SECRETS["proxy"],
    )
    assert_no_secret(config)


def test_cli_connection_hides_its_token(tmp_path):
    connection = Connection.resolve(
        "https://hub.example.edu", tmp_path, {"COURSEHUB_TOKEN": SECRETS["admin"]}
    )
    assert connection.token == SECRETS["admin"]
    assert_no_secret(connection)


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_the_check_itself_finds_a_shown_secret(secret):
    """The check above cannot pass by accident."""

    class Leaky:
        def __repr__(self) -> str:
            return f"Leaky({SECRETS[secret]!r})"

    with pytest.raises(AssertionError, match=secret):
        assert_no_secret(Leaky())


def test_auth_settings_from_the_environment_are_the_ones_checked():
    settings = AuthSettings.from_environ(
        {
            "COURSEHUB_AUTH": "oidc",
            "COURSEHUB_OIDC_ISSUER": "https://sso.example.edu",
            "COURSEHUB_OIDC_CLIENT_ID": "c",
            "COURSEHUB_OIDC_CLIENT_SECRET": SECRETS["oidc"],
        },
        False,
    )
    assert settings.oidc.client_secret == SECRETS["oidc"]
    assert_no_secret(settings)
