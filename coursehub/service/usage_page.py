"""The GPU usage page, ``<hub>/services/coursehub/usage``, for people in a browser.

People sign in through the hub (JupyterHub's ``HubOAuthenticated``: a visit without the
service's login cookie goes to the hub's OAuth authorize page and comes back through
``oauth_callback``, which sets the cookie). The hub lets a user through only with
``access:services!service=coursehub``, which coursehub gives to every user
(``coursehub.hub.config.configure_tokens``); the token it issues carries the staff scope of
staff and admins (the service's ``oauth_client_allowed_scopes``). Then the service decides,
as for the API (``rules``: staff powers need the staff scope): admins see every course,
staff their courses, anyone else a 403 page with the reason. The API handlers stay
token-only; only these pages read the cookie, and they only read (GET), so there is nothing
for a cross-site request to do.

Every value is escaped by Tornado's templates; the chart is matplotlib's SVG, whose text
matplotlib escapes. The pages send a Content-Security-Policy without scripts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from pathlib import Path

from jupyterhub.services.auth import (
    HubOAuth,
    HubOAuthCallbackHandler,
    HubOAuthenticated,
    UserNotAllowed,
)
from jupyterhub.utils import url_path_join
from tornado.template import Loader
from tornado.web import HTTPError, RequestHandler, authenticated

from coursehub.gpu.reports import (
    HELD_HEADER,
    RIGHT_ALIGNED,
    TABLE_HEADER,
    TOTAL,
    held_vs_used_cells,
    idle_holders,
    stamp,
    table_rows,
)
from coursehub.gpu.usage_chart import inline_svg
from coursehub.service.context import ServiceContext
from coursehub.service.gpu_usage import courses_in_scope, usage_report, window
from coursehub.service.rules import Caller, Refusal
from coursehub.service.settings import ServiceSettings

log = logging.getLogger("coursehub.service")
TEMPLATES = Loader(str(Path(__file__).parent / "templates"))
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def make_hub_oauth(settings: ServiceSettings) -> HubOAuth | None:
    """The service's OAuth client at the hub, or None without a hub token (then the
    pages answer 503 and the API still works)."""
    if not settings.hub_api_token:
        return None
    access = os.environ.get("JUPYTERHUB_OAUTH_ACCESS_SCOPES")
    options = (
        {} if access else {"access_scopes": {f"access:services!service={settings.service_name}"}}
    )
    return HubOAuth(
        api_url=settings.hub_api_url,
        api_token=settings.hub_api_token,
        base_url=settings.prefix,
        oauth_client_id=settings.oauth_client_id,
        cache_max_age=60,
        **options,
    )


def cookie_secret(settings: ServiceSettings) -> bytes:
    """The key that signs the pages' cookies: ``COURSEHUB_SERVICE_COOKIE_SECRET`` (hex), else
    ``<data dir>/cookie_secret``, made once (mode 0600), so sign-ins survive a restart."""
    if settings.cookie_secret:
        return bytes.fromhex(settings.cookie_secret)
    path = settings.data_dir / "cookie_secret"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


class PageHandler(HubOAuthenticated, RequestHandler):
    """A page of the service signed in through the hub; errors are pages too."""

    def initialize(self, context: ServiceContext, hub_oauth: HubOAuth | None):
        self.context = context
        self.hub_oauth = hub_oauth
        if hub_oauth is not None:
            self.hub_auth = hub_oauth

    def set_default_headers(self):
        self.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-store")

    async def prepare(self):
        if self.hub_oauth is None:
            raise HTTPError(503, "the service has no hub token, so it cannot sign anyone in")
        # Identify the caller without blocking the event loop (HubAuthenticated's own
        # get_current_user waits for the hub synchronously).
        self._hub_auth_user_cache = None
        model = await self.hub_oauth.get_user(self, sync=False)
        if model:
            try:
                self._hub_auth_user_cache = self.check_hub_user(model)
            except UserNotAllowed:
                raise HTTPError(
                    403, f"{model.get('name')} may not use the coursehub service"
                ) from None
            self.hub_oauth._persist_url_token_if_set(self)

    @property
    def hub_home(self) -> str:
        return url_path_join(self.hub_oauth.hub_prefix if self.hub_oauth else "/hub/", "home")

    def page(self, name: str, status: int = 200, **values) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            TEMPLATES.load(name).generate(
                hub_home=self.hub_home, service_prefix=self.context.settings.prefix, **values
            )
        )

    def write_error(self, status_code: int, **kwargs):
        message = self._reason
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, Refusal):
            message = error.message
        elif isinstance(error, HTTPError) and error.log_message:
            message = error.log_message % error.args if error.args else error.log_message
        headings = {400: "Not understood", 403: "Not allowed", 404: "Not found"}
        self.page(
            "refused.html",
            status_code,
            heading=f"{status_code} · {headings.get(status_code, self._reason)}",
            message=message,
        )

    def send_error(self, status_code: int = 500, **kwargs):
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, Refusal):
            status_code = error.status
        super().send_error(status_code, **kwargs)

    def log_exception(self, typ, value, tb):
        if isinstance(value, Refusal):
            log.info("%s %s refused: %s", self.request.method, self.request.path, value)
            return
        super().log_exception(typ, value, tb)


class UsagePageHandler(PageHandler):
    @authenticated
    async def get(self):
        caller = Caller.from_hub_model(self.current_user)
        catalog = self.context.catalog
        choices = courses_in_scope(catalog, caller, None)
        course = self.get_argument("course", "") or None
        courses = courses_in_scope(catalog, caller, course)
        now = self.context.now()
        since, until = window(self.get_argument("since", "") or None, None, now)
        report = await usage_report(self.context, courses, since, until, now)
        chart = await asyncio.to_thread(inline_svg, report.daily) if report.has_sessions else ""
        taught = ", ".join(choices)
        self.page(
            "usage.html",
            user=caller.name,
            admin=caller.admin,
            role="admin" if caller.admin else f"staff of {taught}",
            choices=choices,
            course=course or "",
            since_value=f"{since:%Y-%m-%d}",
            since_text=stamp(since),
            until_text=stamp(until),
            has_sessions=report.has_sessions,
            header=TABLE_HEADER,
            rows=table_rows(report) if report.rows else [],
            total=TOTAL,
            numeric=RIGHT_ALIGNED,
            held_header=HELD_HEADER,
            held_rows=[held_vs_used_cells(total) for total in report.totals]
            if report.has_sessions
            else [],
            idle_rows=[held_vs_used_cells(row) for row in idle_holders(report)],
            chart=chart,
        )


class ServiceHomeHandler(RequestHandler):
    """``/services/coursehub/``, where the hub's Services menu points: the usage page."""

    def get(self):
        self.redirect(url_path_join(self.request.path, "usage"))


class OAuthCallbackHandler(HubOAuthCallbackHandler):
    """Where the hub sends the browser back after sign-in: sets the login cookie."""

    def initialize(self, hub_oauth: HubOAuth | None):
        self.hub_oauth = hub_oauth
        if hub_oauth is not None:
            self.hub_auth = hub_oauth

    def prepare(self):
        if self.hub_oauth is None:
            raise HTTPError(503, "the service has no hub token, so it cannot sign anyone in")


def page_routes(prefix: str, context: ServiceContext, hub_oauth: HubOAuth | None) -> list:
    pages = {"context": context, "hub_oauth": hub_oauth}
    return [
        (rf"{prefix}?", ServiceHomeHandler),
        (rf"{prefix}usage", UsagePageHandler, pages),
        (rf"{prefix}oauth_callback", OAuthCallbackHandler, {"hub_oauth": hub_oauth}),
    ]
