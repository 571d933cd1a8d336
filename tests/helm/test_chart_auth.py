"""Sign-in settings in the chart: jupyterhub.hub.extraEnv carries COURSEHUB_AUTH and its
COURSEHUB_OIDC_* / COURSEHUB_LTI_* variables to the hub; the chart refuses what the hub
would refuse, and a client secret written in the values."""

from __future__ import annotations

import helm_python as helm
import pytest
from chart_render import CHART_DIR, NAMESPACE, OFFLINE, everything_values, merge

from coursehub.hub.auth_settings import AuthSettings

SECRET_REF = {"valueFrom": {"secretKeyRef": {"name": "coursehub-oidc", "key": "client-secret"}}}
OIDC_ENV = {
    "COURSEHUB_AUTH": "oidc",
    "COURSEHUB_OIDC_ISSUER": "https://sso.example.edu/realms/university",
    "COURSEHUB_OIDC_CLIENT_ID": "coursehub",
    "COURSEHUB_OIDC_CLIENT_SECRET": SECRET_REF,
}
LTI_ENV = {
    "COURSEHUB_AUTH": "lti",
    "COURSEHUB_LTI_ISSUER": "https://canvas.instructure.com",
    "COURSEHUB_LTI_CLIENT_IDS": "10000000000001",
    "COURSEHUB_LTI_AUTHORIZE_URL": "https://sso.canvaslms.com/api/lti/authorize_redirect",
    "COURSEHUB_LTI_JWKS_URL": "https://sso.canvaslms.com/api/lti/security/jwks",
}


@pytest.fixture(scope="module")
def chart():
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def with_env(env: dict, base: dict | None = None) -> dict:
    return merge(base or {}, {"jupyterhub": {"hub": {"extraEnv": env}}})


def render(chart, values: dict):
    return chart.render(merge(values, OFFLINE), name="coursehub", namespace=NAMESPACE)


def hub_environ(values: dict) -> dict[str, str]:
    """What the hub's process sees: plain values as they are, Secret references resolved
    to a stand-in (the kubelet's job)."""
    env = values["jupyterhub"]["hub"]["extraEnv"]
    return {
        name: ("from-a-secret" if isinstance(value, dict) else str(value))
        for name, value in env.items()
    }


def test_default_values_leave_sign_in_to_hub_config(chart):
    env = chart.merge_values({})["jupyterhub"]["hub"]["extraEnv"]
    assert "COURSEHUB_AUTH" not in env
    render(chart, {})


def test_everything_values_sign_in_with_oidc_and_a_secret(chart):
    values = chart.merge_values(everything_values())
    env = values["jupyterhub"]["hub"]["extraEnv"]
    assert env["COURSEHUB_AUTH"] == "oidc"
    assert env["COURSEHUB_OIDC_CLIENT_SECRET"] == SECRET_REF
    assert "authenticator_class" not in values["jupyterhub"]["hub"].get("config", {}).get(
        "JupyterHub", {}
    )
    render(chart, everything_values())
    # and the hub accepts these settings
    settings = AuthSettings.from_environ(hub_environ(values), dev=False)
    assert settings.oidc.client_secret == "from-a-secret"
    assert settings.oidc.admin_values == ("coursehub:admin",)
    assert settings.admin_users == ("it-admin",)


@pytest.mark.parametrize("env", [OIDC_ENV, LTI_ENV], ids=["oidc", "lti"])
def test_complete_settings_render_and_the_hub_accepts_them(chart, env):
    render(chart, with_env(env))
    AuthSettings.from_environ(hub_environ(chart.merge_values(with_env(env))), dev=False)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"COURSEHUB_AUTH": "demo"}, 'COURSEHUB_AUTH is "demo": use oidc or lti'),
        (
            {**OIDC_ENV, "COURSEHUB_OIDC_CLIENT_SECRET": "written-in-values"},
            "COURSEHUB_OIDC_CLIENT_SECRET must come from a Kubernetes Secret",
        ),
        (
            {**OIDC_ENV, "COURSEHUB_OIDC_ISSUER": ""},
            "jupyterhub.hub.extraEnv.COURSEHUB_OIDC_ISSUER is not set",
        ),
        (
            {**LTI_ENV, "COURSEHUB_LTI_JWKS_URL": ""},
            "jupyterhub.hub.extraEnv.COURSEHUB_LTI_JWKS_URL is not set",
        ),
    ],
    ids=["demo", "plain-secret", "no-issuer", "no-jwks"],
)
def test_bad_sign_in_values_are_refused_naming_the_key(chart, env, words):
    with pytest.raises(helm.HelmRenderError) as refused:
        render(chart, with_env(env))
    assert words in str(refused.value)


def test_two_authenticators_are_refused(chart):
    values = merge(
        with_env(OIDC_ENV),
        {"jupyterhub": {"hub": {"config": {"JupyterHub": {"authenticator_class": "github"}}}}},
    )
    with pytest.raises(helm.HelmRenderError, match="choose one"):
        render(chart, values)
