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

For grade passback (LTI Advantage AGS) it also serves, with ``lti1p3platform``'s own
checks:

- ``POST /token``: the client-credentials grant (``get_access_token``): the tool's JWT
  client assertion is verified against the tool's public JWKS, fetched from the coursehub
  service (``<hub>/services/coursehub/lti/jwks``); besides, ``iss`` and ``sub`` must be the
  client id, ``aud`` this URL and each ``jti`` new. Every request is kept in
  ``token_requests``.
- ``GET|POST /lms/<context>/lineitems`` and ``POST /lms/<context>/lineitems/<id>/scores``
  (``AssignmentsGradesService``: the bearer token must be one this platform signed): line
  items are kept in ``lineitems``, scores in ``scores``.
- ``fail_next``: answers (status, body) given, one each, to the next AGS requests instead
  of doing them (a 429 or 500 once; a 4xx with an LMS error body); ``refuse_user``: a
  user id whose scores get the given answer every time.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import typing as t
from dataclasses import dataclass, field

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request
from lti1p3platform.service_connector import AssignmentsGradesService

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


class Launch(LTIAdvantageMessageLaunchAbstract):
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
    ags: bool = False  # the launch carries the AGS claim (line items and scores)


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
        # Grade passback (see the module's docstring).
        self.token_requests: list[dict] = []
        self.lineitems: dict[str, dict] = {}  # id (its URL) -> line item
        self.scores: list[dict] = []  # {"lineitem": id, **score}
        self.fail_next: list[tuple[int, object]] = []
        self.refuse_user: dict[str, tuple[int, object]] = {}
        self.ags_requests = 0
        self._jtis: set[str] = set()

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
        registration.set_tool_key_set_url(f"{self.hub_url}/services/coursehub/lti/jwks")
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
        app.router.add_post("/token", self.token)
        app.router.add_route("*", "/lms/{context}/lineitems", self.lineitems_endpoint)
        app.router.add_post("/lms/{context}/lineitems/{item}/scores", self.scores_endpoint)
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
        if launch.ags:
            message.set_ags(lineitems_url=self.lineitems_url(launch.context_id))
        return web.Response(text=message.lti_launch(), content_type="text/html")

    # ----- grade passback ----------------------------------------------------------------

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    def lineitems_url(self, context_id: str) -> str:
        return f"{self.url}/lms/{context_id}/lineitems"

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_requests.append(form)
        config = PlatformConf(registration=self.registration())
        try:
            # lti1p3platform fetches the tool's JWKS with requests: off this loop.
            answer = await asyncio.to_thread(config.get_access_token, form)
            claims = jwt_claims(form["client_assertion"])
            problems = [
                f"{name} is {claims.get(name)!r}"
                for name, wanted in (
                    ("iss", CLIENT_ID),
                    ("sub", CLIENT_ID),
                    ("aud", self.token_url),
                )
                if claims.get(name) != wanted
            ]
            if claims.get("jti") in self._jtis or not claims.get("jti"):
                problems.append("the jti was used before")
            if problems:
                raise ValueError("bad client assertion: " + ", ".join(problems))
            self._jtis.add(claims["jti"])
        except Exception as error:  # what lti1p3platform or the checks above refused
            return web.json_response(
                {"error": "invalid_client", "error_description": str(error)}, status=401
            )
        return web.json_response(answer)

    def _service(self, request: web.Request, body: object) -> CourseAGS:
        return CourseAGS(
            self,
            request.match_info["context"],
            AGSRequest(
                {
                    "method": request.method,
                    "headers": dict(request.headers),
                    "get_data": dict(request.query),
                    "json": body,
                }
            ),
        )

    def _injected(self) -> web.Response | None:
        self.ags_requests += 1
        if not self.fail_next:
            return None
        status, body = self.fail_next.pop(0)
        return answer(status, body)

    async def lineitems_endpoint(self, request: web.Request) -> web.Response:
        body = await request.json() if request.method == "POST" else None
        injected = self._injected()
        if injected is not None:
            return injected
        service = self._service(request, body)
        handler = (
            service.handle_create_lineitem
            if request.method == "POST"
            else service.handle_get_lineitems
        )
        return lti_answer(service.handle_resp(handler))

    async def scores_endpoint(self, request: web.Request) -> web.Response:
        body = await request.json()
        injected = self._injected()
        if injected is not None:
            return injected
        if body.get("userId") in self.refuse_user:
            return answer(*self.refuse_user[body["userId"]])
        service = self._service(request, body)
        item_id = (
            f"{self.lineitems_url(request.match_info['context'])}/{request.match_info['item']}"
        )
        return lti_answer(service.handle_resp(service.handle_update_score, line_item_id=item_id))


def jwt_claims(token: str) -> dict:
    import jwt

    return jwt.decode(token, options={"verify_signature": False})


def answer(status: int, body: object) -> web.Response:
    if isinstance(body, str):
        return web.Response(status=status, text=body)
    return web.json_response(body, status=status)


def lti_answer(response) -> web.Response:
    """An ``lti1p3platform`` ``Response`` as HTTP: its result, else its message."""
    if response.code >= 400:
        return web.json_response({"message": response.message}, status=response.code)
    if response.result is None:
        return web.Response(status=response.code)
    result = response.result
    if isinstance(result, ItemPage):
        result = result["content"]
    return web.Response(
        status=response.code,
        text=json.dumps(result),
        content_type=response.media_type,
    )


class AGSRequest(Request):
    def build_metadata(self, request: dict) -> dict:
        return {
            "method": request["method"],
            "form_data": {},
            "get_data": request["get_data"],
            "headers": request["headers"],
            "content_type": request["headers"].get("Content-Type"),
            "path": "",
            "json": request["json"],
        }


class CourseAGS(AssignmentsGradesService):
    """One LMS course's line items and scores, kept in the platform's dicts."""

    def __init__(self, platform: LTIPlatform, context_id: str, request: AGSRequest):
        super().__init__(
            request,
            PlatformConf(registration=platform.registration()),
            platform.lineitems_url(context_id),
        )
        self.platform = platform
        self.prefix = platform.lineitems_url(context_id)
        self.platform_config.get_registration()

    def find_lineitems(
        self,
        page=1,
        limit=None,
        line_item_id=None,
        resource_link_id=None,
        resource_id=None,
        tag=None,
    ):
        items = [
            item
            for key, item in self.platform.lineitems.items()
            if key.startswith(self.prefix + "/")
            and (resource_id is None or item.get("resourceId") == resource_id)
        ]
        # The AGS container is a JSON array; this paging dict is lti1p3platform's.
        return ItemPage(items)

    def find_lineitem(self, line_item_id):
        return self.platform.lineitems[line_item_id]

    def create_lineitem(self, creation_data):
        item_id = f"{self.prefix}/{len(self.platform.lineitems) + 1}"
        item = {**creation_data, "id": item_id}
        self.platform.lineitems[item_id] = item
        return item

    def update_lineitem(self, update_data):
        self.platform.lineitems[update_data["id"]].update(update_data)
        return self.platform.lineitems[update_data["id"]]

    def delete_lineitem(self, line_item_id):
        self.platform.lineitems.pop(line_item_id)

    def update_score(self, line_item_id, score):
        from lti1p3platform.exceptions import LineItemNotFoundException
        from lti1p3platform.score import UpdateScoreStatus

        if line_item_id not in self.platform.lineitems:
            raise LineItemNotFoundException()
        self.platform.scores.append({"lineitem": line_item_id, **score})
        return UpdateScoreStatus.SUCCESS

    def get_results(self, line_item_id, page=1, limit=None, user_id=None):
        raise NotImplementedError


class ItemPage(dict):
    """lti1p3platform reads ``has_next`` from the page; the wire gets the list."""

    def __init__(self, items: list[dict]):
        super().__init__(has_next=False, content=items)


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the platform's auto-submitting launch form."""
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))
    fields = {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"/>', page)
    }
    return action, fields
