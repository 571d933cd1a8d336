"""``coursehub service``: build the Tornado application and run it.

The hub starts it as a managed service in dev (``coursehub dev``); in production it runs in
its own Deployment as an external JupyterHub service (the Helm chart). Either way the hub
hands it ``JUPYTERHUB_API_TOKEN`` and ``JUPYTERHUB_API_URL`` to check callers' tokens.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from jupyterhub.services.auth import HubAuth
from tornado.httpserver import HTTPServer
from tornado.web import Application

from coursehub.service import api
from coursehub.service.context import ServiceContext
from coursehub.service.course_page import course_page_routes
from coursehub.service.gpu_enforcer import Enforcer
from coursehub.service.hub_client import HubREST
from coursehub.service.settings import ServiceSettings
from coursehub.service.usage_page import cookie_secret, make_hub_oauth, page_routes
from coursehub.service.workflow import fail_interrupted_jobs

log = logging.getLogger("coursehub.service")


# Requests made every few seconds by machines (the hub's membership poll, health probes):
# logged at debug level unless they fail, so the log shows what people do.
QUIET_PATHS = ("api/memberships", "api/health")


def log_request(handler) -> None:
    status = handler.get_status()
    quiet = handler.request.path.endswith(QUIET_PATHS)
    if status >= 400:
        level = logging.WARNING if status < 500 else logging.ERROR
    else:
        level = logging.DEBUG if quiet else logging.INFO
    access = logging.getLogger("tornado.access")
    if access.isEnabledFor(level):
        access.log(
            level,
            "%d %s %.2fms",
            status,
            handler._request_summary(),
            1000.0 * handler.request.request_time(),
        )


def routes(prefix: str, context: ServiceContext) -> list[tuple]:
    """The API's handlers (``coursehub.service.api``) under the service's prefix, each
    given the context."""
    return [
        (prefix + pattern, handler, {"context": context})
        for pattern, handler in api.default_handlers
    ]


def make_app(context: ServiceContext, hub_auth: HubAuth | None = None) -> Application:
    # Token lookups are cached briefly: a submission rush asks the hub once per student.
    auth = hub_auth or HubAuth(cache_max_age=60)
    prefix = context.settings.prefix
    hub_oauth = make_hub_oauth(context.settings)
    return Application(
        # The API (token only), then the pages people open in a browser (hub sign-in).
        routes(prefix, context)
        + page_routes(prefix, context, hub_oauth)
        + course_page_routes(prefix, context, hub_oauth),
        hub_auth=auth,
        cookie_secret=cookie_secret(context.settings),
        log_function=log_request,
        # Uploads up to the submission limit, with room for tar and gzip overhead.
        max_body_size=context.settings.limits.max_total_bytes * 2 + 1024 * 1024,
    )


async def serve(settings: ServiceSettings) -> None:
    context = ServiceContext.create(settings)
    interrupted = fail_interrupted_jobs(context)
    if interrupted:
        log.warning("Marked %d job(s) interrupted by the last shutdown as failed", interrupted)
    # The overlay of memberships before the first request is answered.
    await context.catalog_sync.refresh_overlay()
    context.catalog_sync.start()
    enforcer = None
    if settings.hub_api_token:
        hub = HubREST(settings.hub_api_url, settings.hub_api_token)
        enforcer = Enforcer(context, hub, settings.gpu_enforce_seconds)
        enforcer.start()
    else:
        log.warning("JUPYTERHUB_API_TOKEN is not set: GPU budgets and limits are not enforced")
    app = make_app(context)
    server = HTTPServer(app, max_body_size=app.settings["max_body_size"])
    server.listen(settings.bind_port, settings.bind_host)
    log.info(
        "coursehub service on http://%s:%d%s (data in %s, database %s)",
        settings.bind_host,
        settings.bind_port,
        settings.prefix,
        settings.data_dir,
        settings.db_url.split("@")[-1],
    )
    if context.hub_sync is not None:
        context.hub_sync.start()
    else:
        log.warning(
            "JUPYTERHUB_API_URL or JUPYTERHUB_API_TOKEN is not set: course groups and dropped "
            "members' servers are not kept in step with the catalog"
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("coursehub service stopping")
    server.stop()
    if context.hub_sync is not None:
        await context.hub_sync.stop()
    if enforcer is not None:
        await enforcer.stop()
    await server.close_all_connections()
    context.catalog_sync.stop()
    context.upload_checks.close()
    context.db.close()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)1.1s %(asctime)s %(name)s] %(message)s"
    )
    settings = ServiceSettings.from_environ()
    # nbgrader's gradebook runs the `alembic` command of this environment.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    asyncio.run(serve(settings))
    return 0
