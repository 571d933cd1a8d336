"""GPU warnings in JupyterLab: a Jupyter server extension and a small JupyterLab plugin.

The coursehub service keeps, per running GPU server, the newest warning for its user ("your
GPU server stops in 9 minutes: budget"). JupyterLab cannot ask the service itself (the
service takes hub tokens, the browser holds only the server's cookie), so:

- this server extension answers ``GET <server>/coursehub/notices`` for the signed-in user by
  asking the service's ``api/gpu/notices`` with the server's own hub token
  (``JUPYTERHUB_API_TOKEN``, which belongs to the server's user);
- the JupyterLab plugin ``coursehub-notices`` (``data/labextensions``, a prebuilt federated
  extension written by hand: it needs nothing but the application's command registry) polls
  that URL every minute and shows each new warning once with JupyterLab's own
  ``apputils:notify`` command, as a warning that stays until dismissed.

A GPU server also reports its GPU use to the service (``telemetry``: utilisation, memory,
kernels executing; idle GPU culling and used GPU-hours come from it) and answers
``GET <server>/coursehub/gpu-status`` for the plugin's status-bar item
("GPU 37 % · 5.1/16 GiB · 8.5 h left").

Enabled in every notebook server by ``coursehub/exchange/jupyter_config`` (``/etc/jupyter``
in the images); the wheel installs the plugin into ``share/jupyter/labextensions`` and
``data/lab-settings/overrides.d/coursehub.json`` into JupyterLab's settings, which turns off
JupyterLab's own news prompt and update check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from coursehub.notices import telemetry

DATA_DIR = Path(__file__).parent / "data"


class NoticesHandler(APIHandler):
    @web.authenticated
    async def get(self):
        service = os.environ.get("COURSEHUB_SERVICE_URL")
        token = os.environ.get("JUPYTERHUB_API_TOKEN")
        if not service or not token:
            self.finish(json.dumps({"notices": []}))
            return
        request = HTTPRequest(
            f"{service.rstrip('/')}/api/gpu/notices",
            headers={"Authorization": f"token {token}"},
            request_timeout=10,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except (HTTPClientError, OSError) as error:
            self.log.warning("coursehub notices: the service did not answer: %s", error)
            raise web.HTTPError(502, "the coursehub service did not answer") from None
        self.set_header("Content-Type", "application/json")
        self.finish(response.body)


class GPUStatusHandler(APIHandler):
    """This server's GPU use and the user's hours left (``{"enabled": false}`` without
    GPUs), for the status bar."""

    @web.authenticated
    async def get(self):
        reporter = self.settings.get("coursehub_gpu_reporter")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(reporter.status if reporter else {"enabled": False}))


def _jupyter_server_extension_points():
    return [{"module": "coursehub.notices"}]


def _jupyter_labextension_paths():
    return [{"src": "data/labextensions/coursehub-notices", "dest": "coursehub-notices"}]


def _load_jupyter_server_extension(serverapp):
    base_url = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base_url, "coursehub", "notices"), NoticesHandler),
            (url_path_join(base_url, "coursehub", "gpu-status"), GPUStatusHandler),
        ],
    )
    reporter = _gpu_reporter(serverapp, os.environ)
    serverapp.web_app.settings["coursehub_gpu_reporter"] = reporter
    if reporter is not None:
        reporter.start()


def _gpu_reporter(serverapp, environ) -> telemetry.Reporter | None:
    """The GPU telemetry reporter of a GPU server that can reach the service, else None."""
    read = telemetry.gpu_source(environ)
    service, token = environ.get("COURSEHUB_SERVICE_URL"), environ.get("JUPYTERHUB_API_TOKEN")
    if read is None or not service or not token:
        return None
    kernels = serverapp.kernel_manager

    def kernel_states():
        for kernel_id in list(kernels.list_kernel_ids()):
            yield getattr(kernels.get_kernel(kernel_id), "execution_state", None)

    try:
        interval = telemetry.interval_from(environ)
    except telemetry.TelemetryError as error:
        # The warnings and the rest of the server keep working; the idle GPU is then
        # judged without reports (idle since the start), which the log says.
        serverapp.log.error("coursehub: no GPU telemetry: %s", error)
        return None
    serverapp.log.info("coursehub: reporting GPU telemetry every %g s", interval)
    return telemetry.Reporter(
        read, kernel_states, service, token, environ.get("JUPYTERHUB_SERVER_NAME", ""), interval
    )
