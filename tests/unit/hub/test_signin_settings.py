"""Sign-in settings (COURSEHUB_AUTH, COURSEHUB_OIDC_*, COURSEHUB_LTI_*) and what
``configure`` makes of them."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hub_config_values import production_settings, z2jh_config
from traitlets.config import Config

from coursehub.hub.auth import DemoAuthenticator
from coursehub.hub.config import configure
from coursehub.hub.lti import CourseLTIAuthenticator
from coursehub.hub.oidc import CourseOIDCAuthenticator
from coursehub.hub.settings import SettingsError

OIDC = {
    "COURSEHUB_AUTH": "oidc",
    "COURSEHUB_OIDC_ISSUER": "https://sso.example.edu/realms/uni",
    "COURSEHUB_OIDC_CLIENT_ID": "coursehub",
    "COURSEHUB_OIDC_CLIENT_SECRET": "s3cret",
    "COURSEHUB_OIDC_AUTHORIZE_URL": "https://sso.example.edu/auth",
    "COURSEHUB_OIDC_TOKEN_URL": "https://sso.example.edu/token",
    "COURSEHUB_OIDC_JWKS_URL": "https://sso.example.edu/certs",
}
LTI = {
    "COURSEHUB_AUTH": "lti",
    "COURSEHUB_LTI_ISSUER": "https://canvas.instructure.com",
    "COURSEHUB_LTI_CLIENT_IDS": "10000000000001, 10000000000002",
    "COURSEHUB_LTI_AUTHORIZE_URL": "https://sso.canvaslms.com/api/lti/authorize_redirect",
    "COURSEHUB_LTI_JWKS_URL": "https://sso.canvaslms.com/api/lti/security/jwks",
}


def test_production_without_coursehub_auth_leaves_the_authenticator_to_helm(tmp_path):
    c = z2jh_config()
    c.JupyterHub.authenticator_class = "generic-oauth"
    configure(c, production_settings(tmp_path))
    assert c.JupyterHub.authenticator_class == "generic-oauth"


def test_oidc_settings_reach_the_authenticator(tmp_path):
    c = z2jh_config()
    settings = production_settings(
        tmp_path,
        **OIDC,
        COURSEHUB_OIDC_COURSE_CLAIM="realm_access.roles",
        COURSEHUB_OIDC_ADMIN_VALUES="coursehub:admin",
        COURSEHUB_OIDC_EMAIL_DOMAINS="uni.example.edu",
        COURSEHUB_ADMIN_USERS="it-admin, dean",
    )
    configure(c, settings)
    assert c.JupyterHub.authenticator_class is CourseOIDCAuthenticator
    section = c.CourseOIDCAuthenticator
    assert section.client_secret == "s3cret"
    assert section.oidc_issuer == OIDC["COURSEHUB_OIDC_ISSUER"]
    assert section.jwks_url == OIDC["COURSEHUB_OIDC_JWKS_URL"]
    assert section.scope == ["openid", "profile", "email"]
    assert section.course_claim == "realm_access.roles"
    assert section.admin_values == ["coursehub:admin"]
    assert section.email_domains == ["uni.example.edu"]
    assert "oauth_callback_url" not in section  # production: from the request
    assert c.Authenticator.admin_users == {"it-admin", "dean"}
    assert section.service_client() is not None  # the hub's client to the service
    assert section.catalog().courses.keys() == {"ai-101", "ml-201"}


def test_lti_settings_reach_the_authenticator(tmp_path):
    c = z2jh_config()
    configure(c, production_settings(tmp_path, **LTI))
    assert c.JupyterHub.authenticator_class is CourseLTIAuthenticator
    section = c.CourseLTIAuthenticator
    assert section.client_id == {"10000000000001", "10000000000002"}
    assert section.issuer == LTI["COURSEHUB_LTI_ISSUER"]
    assert section.jwks_endpoint == LTI["COURSEHUB_LTI_JWKS_URL"]
    # launches are cross-site POSTs: cookies must allow it; z2jh's settings stay
    assert c.JupyterHub.tornado_settings["cookie_options"] == {"samesite": "None", "secure": True}
    assert c.JupyterHub.tornado_settings["headers"] == {"X-Site": "hub"}


def test_username_settings_reach_the_authenticator(tmp_path):
    bindings = {
        "it-admin": {"subject": "248289761001"},
        "j.smith": {"subject": "lms-user-1", "issuer": "https://other-lms.example"},
    }
    c = z2jh_config()
    settings = production_settings(
        tmp_path,
        **LTI,
        COURSEHUB_IDENTITY_BINDINGS=json.dumps(bindings),
        COURSEHUB_USERNAME_DOMAIN="@Uni.Example.edu",
        COURSEHUB_LTI_TRUST_EMAIL="1",
        COURSEHUB_ADMIN_USERS="it-admin",
    )
    configure(c, settings)
    section = c.CourseLTIAuthenticator
    assert section.identity_bindings == {
        "it-admin": [LTI["COURSEHUB_LTI_ISSUER"], "248289761001"],
        "j.smith": ["https://other-lms.example", "lms-user-1"],
    }
    assert section.username_domain == "uni.example.edu"
    assert section.trust_email is True
    # The launch mints the deep link's ticket in the spawner's own ledger.
    assert section.spawn_tickets() is c.CourseSpawner.spawn_tickets()
    assert section.spawn_tickets() is not None


def test_lms_email_is_not_trusted_by_default_and_one_oidc_domain_names_users(tmp_path):
    lti = production_settings(tmp_path, **LTI)
    assert lti.auth.lti.trust_email is False
    assert lti.auth.username_domain is None
    one = production_settings(tmp_path, **OIDC, COURSEHUB_OIDC_EMAIL_DOMAINS="uni.example.edu")
    assert one.auth.username_domain == "uni.example.edu"
    two = production_settings(tmp_path, **OIDC, COURSEHUB_OIDC_EMAIL_DOMAINS="a.edu,b.edu")
    assert two.auth.username_domain is None
    # What is used is the value without the line end a YAML block may add.
    padded = production_settings(tmp_path, **OIDC, COURSEHUB_USERNAME_DOMAIN="uni.edu\n")
    assert padded.auth.username_domain == "uni.edu"


def test_dev_keeps_the_demo_accounts(tmp_path):
    settings = production_settings(
        tmp_path, COURSEHUB_MODE="dev", KUBECONFIG=str(tmp_path / "kubeconfig")
    )
    c = Config()
    configure(c, settings)
    assert c.JupyterHub.authenticator_class is DemoAuthenticator
    assert c.Authenticator.admin_users == {"admin"}


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        ({"COURSEHUB_AUTH": "saml"}, "COURSEHUB_AUTH='saml': not one of demo, oidc, lti"),
        ({"COURSEHUB_AUTH": "demo"}, "COURSEHUB_AUTH='demo' is for development only"),
        ({**OIDC, "COURSEHUB_OIDC_CLIENT_SECRET": ""}, "COURSEHUB_OIDC_CLIENT_SECRET is not set"),
        ({**OIDC, "COURSEHUB_OIDC_ISSUER": "sso"}, "COURSEHUB_OIDC_ISSUER='sso': not an http"),
        (
            {**OIDC, "COURSEHUB_OIDC_COURSE_PATTERN": "(?P<course>.*)"},
            "needs the named groups (?P<course>…) and (?P<role>…)",
        ),
        ({**OIDC, "COURSEHUB_OIDC_COURSE_PATTERN": "("}, "not a regular expression"),
        ({**LTI, "COURSEHUB_LTI_CLIENT_IDS": " "}, "COURSEHUB_LTI_CLIENT_IDS is not set"),
        ({**LTI, "COURSEHUB_LTI_JWKS_URL": ""}, "COURSEHUB_LTI_JWKS_URL is not set"),
        (
            {**LTI, "COURSEHUB_LTI_TRUST_EMAIL": "sure"},
            "COURSEHUB_LTI_TRUST_EMAIL='sure': not 1 or 0",
        ),
        (
            {**OIDC, "COURSEHUB_USERNAME_DOMAIN": "uni"},
            "COURSEHUB_USERNAME_DOMAIN='uni': not a domain",
        ),
        (
            {**OIDC, "COURSEHUB_IDENTITY_BINDINGS": "{"},
            "COURSEHUB_IDENTITY_BINDINGS='{': not a JSON object",
        ),
        ({**OIDC, "COURSEHUB_IDENTITY_BINDINGS": "[]"}, "'[]': not a JSON object"),
        (
            {**OIDC, "COURSEHUB_IDENTITY_BINDINGS": '{"It Admin": {"subject": "1"}}'},
            "'It Admin' is not a username",
        ),
        (
            {**OIDC, "COURSEHUB_IDENTITY_BINDINGS": '{"it-admin\\n": {"subject": "1"}}'},
            "is not a username",
        ),
        (
            {**OIDC, "COURSEHUB_IDENTITY_BINDINGS": '{"it-admin": {"sub": "1"}}'},
            "['it-admin'] must be an object with subject",
        ),
        (
            {**OIDC, "COURSEHUB_IDENTITY_BINDINGS": '{"it-admin": {"subject": ""}}'},
            "'subject' must be a non-empty string",
        ),
        (
            {
                **OIDC,
                "COURSEHUB_IDENTITY_BINDINGS": '{"a": {"subject": "1"}, "b": {"subject": "1"}}',
            },
            "to both 'a' and 'b'",
        ),
        (
            {"COURSEHUB_IDENTITY_BINDINGS": '{"a": {"subject": "1"}}'},
            "only COURSEHUB_AUTH=oidc or lti uses it",
        ),
    ],
)
def test_bad_sign_in_settings_name_the_variable(tmp_path, environ, words):
    with pytest.raises(SettingsError) as refused:
        production_settings(tmp_path, **environ)
    assert words in str(refused.value)


class _Discovery(BaseHTTPRequestHandler):
    issuer = ""

    def do_GET(self):
        body = json.dumps(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/auth",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
            }
        ).encode()
        self.send_response(200 if self.path.endswith("/openid-configuration") else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def discovery():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discovery)
    _Discovery.issuer = f"http://127.0.0.1:{server.server_port}/realms/uni"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield _Discovery.issuer
    server.shutdown()
    server.server_close()


def test_endpoints_come_from_the_issuers_discovery_document(tmp_path, discovery):
    environ = {key: value for key, value in OIDC.items() if not key.endswith("_URL")}
    c = z2jh_config()
    environ["COURSEHUB_OIDC_ISSUER"] = discovery
    configure(c, production_settings(tmp_path, **environ))
    section = c.CourseOIDCAuthenticator
    assert (section.authorize_url, section.token_url, section.jwks_url) == (
        f"{discovery}/auth",
        f"{discovery}/token",
        f"{discovery}/jwks",
    )


def test_an_issuer_that_differs_from_its_discovery_document_is_refused(tmp_path, discovery):
    environ = {key: value for key, value in OIDC.items() if not key.endswith("_URL")}
    environ["COURSEHUB_OIDC_ISSUER"] = discovery + "/"
    settings = production_settings(tmp_path, **environ)
    with pytest.raises(SettingsError, match="differs from the issuer"):
        configure(z2jh_config(), settings)
