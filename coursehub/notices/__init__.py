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

Enabled in every notebook server by ``coursehub/exchange/jupyter_config`` (``/etc/jupyter``
in the images); the wheel installs the plugin into ``share/jupyter/labextensions``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

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


def _jupyter_server_extension_points():
    return [{"module": "coursehub.notices"}]


def _jupyter_labextension_paths():
    return [{"src": "data/labextensions/coursehub-notices", "dest": "coursehub-notices"}]


def _load_jupyter_server_extension(serverapp):
    route = url_path_join(serverapp.web_app.settings["base_url"], "coursehub", "notices")
    serverapp.web_app.add_handlers(".*$", [(route, NoticesHandler)])
