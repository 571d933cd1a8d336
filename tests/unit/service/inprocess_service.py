"""The coursehub service's real Tornado application in the test process, as JupyterHub tests
its API against ``MockHub``: no hub, proxy or dev cluster.

- ``StubHubAuth(models)``: a real ``HubAuth`` subclass whose ``user_for_token`` looks the
  token up in ``models`` (token -> hub model) instead of asking the hub; every other part
  of ``HubAuth`` (reading the ``Authorization`` header) is JupyterHub's own. An unknown
  token gets ``None``, as the hub answers for one it does not know.
- ``person(name, admin=False, groups=())``: the hub model of a token a person made on the
  hub's Token page: it may call the service and carries the staff scope (it is staff only
  in courses the catalog makes them staff of).
- ``server_token(name)``: the model of a notebook server's token: it may call the service
  but has no staff scope.
- ``running_service(root, *courses, environ=None, models=None)``: an async context manager
  that writes the course dicts to ``<root>/courses``, builds ``ServiceSettings`` as the hub
  gives them in dev (SQLite in ``<root>/service``, limits 1 MB per file and 2 MB per
  submission unless ``environ`` says otherwise), the real ``ServiceContext`` and
  ``coursehub.service.app.make_app`` with a ``StubHubAuth``, and serves it on a free
  loopback port. It yields an ``InProcessService``.
- ``InProcessService``: ``url`` (the service's base, like ``Platform.service_url``),
  ``context`` (its ``ServiceContext``: database, blob store, settings), ``token(name)``
  (a person's token, made on first use), ``add_token(model)`` (any other hub model) and
  ``calls`` (``service_calls.ServiceCalls`` over one aiohttp session).

The service does not reach a hub here: its settings carry no hub API token, so course groups
are not synced and the GPU enforcer does not run (the integration tests cover those).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from factories import write_courses
from jupyterhub.services.auth import HubAuth
from service_calls import ServiceCalls
from tornado.httpserver import HTTPServer

from coursehub.names import STAFF_SCOPE, service_access_scope
from coursehub.service.app import make_app
from coursehub.service.context import ServiceContext
from coursehub.service.settings import ServiceSettings

SERVICE_NAME = "coursehub"
PREFIX = f"/services/{SERVICE_NAME}/"


class StubHubAuth(HubAuth):
    """``HubAuth`` with the hub's token lookup replaced by a dict (token -> hub model)."""

    def __init__(self, models: dict[str, dict], **kwargs):
        super().__init__(api_token="stub-hub-auth", api_url="http://127.0.0.1:9/hub/api", **kwargs)
        self.models = models

    async def user_for_token(self, token, use_cache=True, session_id="", *, sync=True):
        model = self.models.get(token)
        return dict(model) if model is not None else None


def person(name: str, admin: bool = False, groups: tuple[str, ...] = ()) -> dict:
    scopes = [service_access_scope(SERVICE_NAME), STAFF_SCOPE, f"read:users!user={name}"]
    if admin:
        scopes.append("admin:users")
    return {"kind": "user", "name": name, "admin": admin, "groups": list(groups), "scopes": scopes}


def server_token(name: str) -> dict:
    return {
        "kind": "user",
        "name": name,
        "admin": False,
        "groups": [],
        "scopes": [service_access_scope(SERVICE_NAME), f"read:users!user={name}"],
    }


@dataclass
class InProcessService:
    url: str
    context: ServiceContext
    calls: ServiceCalls
    models: dict[str, dict] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)

    def token(self, name: str) -> str:
        """A person's token for ``name`` (the same one on every call)."""
        if name not in self._tokens:
            self._tokens[name] = self.add_token(person(name))
        return self._tokens[name]

    def add_token(self, model: dict) -> str:
        token = secrets.token_hex(16)
        self.models[token] = model
        return token


def service_settings(root: Path, courses_dir: Path, environ: dict[str, str]) -> ServiceSettings:
    """The settings the dev hub hands its managed service, on a port chosen later."""
    return ServiceSettings.from_environ(
        {
            "COURSEHUB_MODE": "dev",
            "COURSEHUB_COURSES_DIR": str(courses_dir),
            "COURSEHUB_SERVICE_DATA_DIR": str(root / "service"),
            "JUPYTERHUB_SERVICE_NAME": SERVICE_NAME,
            "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
            "COURSEHUB_SERVICE_BIND_URL": "http://127.0.0.1:0",
            "COURSEHUB_MAX_FILE_MB": "1",
            "COURSEHUB_MAX_SUBMISSION_MB": "2",
            **environ,
        }
    )


@contextlib.asynccontextmanager
async def running_service(
    root: Path,
    *courses: dict,
    environ: dict[str, str] | None = None,
    models: dict[str, dict] | None = None,
) -> AsyncIterator[InProcessService]:
    courses_dir = write_courses(root / "courses", *courses)
    # As ``coursehub.service.app.main`` does: nbgrader's gradebook runs this venv's alembic.
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{path}"
    context = ServiceContext.create(service_settings(root, courses_dir, environ or {}))
    await context.catalog_sync.refresh_overlay()
    models = {} if models is None else models
    app = make_app(context, hub_auth=StubHubAuth(models))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.setblocking(False)
    server = HTTPServer(app, max_body_size=app.settings["max_body_size"])
    server.add_sockets([listener])
    port = listener.getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}{PREFIX.rstrip('/')}"
            yield InProcessService(url, context, ServiceCalls(session, url), models)
    finally:
        server.stop()
        await server.close_all_connections()
        context.catalog_sync.stop()
        context.upload_checks.close()
        context.db.close()
        os.environ["PATH"] = path
