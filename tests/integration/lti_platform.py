"""An LTI 1.3 platform (an LMS stand-in) built on PyPI's ``lti1p3platform``, signing
launches with its own RSA keys, for the launch tests.

``LTIPlatform`` serves, on a free loopback port (aiohttp, in the test's event loop):

- ``GET /jwks``: its public keys (what the hub's ``COURSEHUB_LTI_JWKS_URL`` names);
- ``GET /launch/<id>``: third-party login initiation of a launch prepared with
  ``prepare(...)`` (``OIDCLoginAbstract.initiate_login``: a redirect to the hub);
- ``GET /authorize``: the platform's OIDC authorization endpoint the hub redirects to; it
  answers with the auto-submitting form that posts the signed ID token to the hub
  (``MessageLaunchAbstract.lti_launch``).

A launch may be signed as a different issuer (``issuer=``) or with a forger's key that
claims the platform's key id (``forged=True``), for the refusal tests.
"""

from __future__ import annotations

import html
import itertools
import re
import typing as t
from dataclasses import dataclass, field

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import MessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request

from coursehub.dev.processes import free_port

CLIENT_ID = "coursehub-lti-tests"
DEPLOYMENT_ID = "deployment-1"
LIS = "http://purl.imsglobal.org/vocab/lis/v2/membership"
LEARNER = f"{LIS}#Learner"
INSTRUCTOR = f"{LIS}#Instructor"
MENTOR = f"{LIS}#Mentor"


def pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class ForgedRegistration(Registration):
    """Signs with another key but names the real key's id, as a forger would."""

    claimed_kid: str | None = None

    def get_kid(self) -> str | None:
        return self.claimed_kid


class PlatformConf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: t.Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: t.Any) -> Registration:
        return self._registration


class DictRequest(Request):
    def build_metadata(self, request: dict) -> dict:
        return {
            "method": "GET",
            "form_data": {},
            "get_data": request,
            "headers": {},
            "content_type": None,
            "path": "",
            "json": None,
        }


class Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: t.Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class Launch(MessageLaunchAbstract):
    def render_launch_form(self, launch_data: dict, **kwargs: t.Any) -> str:
        fields = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(launch_data[name])}"/>'
            for name in ("id_token", "state")
        )
        return (
            "<!DOCTYPE html><html><body onload='document.forms[0].submit()'>"
            f'<form method="post" action="{html.escape(launch_data["launch_url"])}">'
            f"{fields}</form></body></html>"
        )


@dataclass
class PreparedLaunch:
    user_id: str
    email: str | None
    roles: list[str]
    context_id: str
    context_title: str
    custom: dict[str, str] = field(default_factory=dict)
    issuer: str | None = None
    forged: bool = False


class LTIPlatform:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = f"{self.url}/lms"
        self.private_key, self.public_key = pem_pair()
        self.forger_key, _ = pem_pair()
        self.hub_url = ""
        self.launches: dict[str, PreparedLaunch] = {}
        self._ids = itertools.count(1)
        self.runner: web.AppRunner | None = None

    # ----- registrations -----------------------------------------------------------------

    def registration(self, launch: PreparedLaunch | None = None) -> Registration:
        forged = launch is not None and launch.forged
        registration = ForgedRegistration() if forged else Registration()
        registration.set_iss((launch and launch.issuer) or self.issuer)
        registration.set_client_id(CLIENT_ID)
        registration.set_deployment_id(DEPLOYMENT_ID)
        registration.set_oidc_login_url(f"{self.hub_url}/hub/lti13/oauth_login")
        registration.set_launch_url(f"{self.hub_url}/hub")
        registration.set_platform_public_key(self.public_key)
        registration.set_platform_private_key(self.forger_key if forged else self.private_key)
        if forged:
            registration.claimed_kid = Registration.get_jwk(self.public_key)["kid"]
        return registration

    # ----- HTTP --------------------------------------------------------------------------

    async def start(self, hub_url: str) -> LTIPlatform:
        self.hub_url = hub_url
        app = web.Application()
        app.router.add_get("/jwks", self.jwks)
        app.router.add_get("/launch/{id}", self.initiate)
        app.router.add_get("/authorize", self.authorize)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def prepare(self, **launch: t.Any) -> str:
        """A launch link (``/launch/<id>``) a user would click in the LMS."""
        launch_id = str(next(self._ids))
        self.launches[launch_id] = PreparedLaunch(**launch)
        return f"{self.url}/launch/{launch_id}"

    async def jwks(self, request: web.Request) -> web.Response:
        config = PlatformConf(registration=self.registration())
        config.get_registration()
        return web.json_response(config.get_jwks())

    async def initiate(self, request: web.Request) -> web.Response:
        launch_id = request.match_info["id"]
        launch = self.launches[launch_id]
        config = PlatformConf(registration=self.registration(launch))
        login = Login(None, config)
        login.set_lti_message_hint(hint=launch_id)
        raise web.HTTPFound(login.initiate_login(launch.user_id))

    async def authorize(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        launch = self.launches[query["lti_message_hint"]]
        assert query["login_hint"] == launch.user_id
        config = PlatformConf(registration=self.registration(launch))
        message = Launch(DictRequest(query), config)
        message.set_user_data(launch.user_id, launch.roles, email_address=launch.email)
        message.set_resource_link_claim(f"link-{query['lti_message_hint']}", title="Notebook")
        message.set_launch_context_claim(
            launch.context_id,
            context_types=["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
            context_title=launch.context_title,
            context_label=launch.context_title.split(" ")[0],
        )
        if launch.custom:
            message.set_custom_parameters_claim(launch.custom)
        return web.Response(text=message.lti_launch(), content_type="text/html")


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the platform's auto-submitting launch form."""
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))
    fields = {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"/>', page)
    }
    return action, fields
