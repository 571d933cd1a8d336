"""Due dates and submission receipts in JupyterLab: a server extension and a small
JupyterLab plugin.

nbgrader's Assignments tab shows little of an assignment's due date and nothing of what the
service recorded for a submission. So, as ``coursehub.notices`` does for GPU warnings:

- this server extension answers ``GET <server>/coursehub/due-dates`` for the signed-in user
  by asking the service (``api/me``, then ``api/courses/<id>/assignments`` of each course
  the user takes) with the server's own hub token (``JUPYTERHUB_API_TOKEN``, which acts only
  as its owner's student self), shaped by ``view``;
- the JupyterLab plugin ``coursehub-duedates`` (``data/labextensions``, a prebuilt federated
  extension written by hand) adds a "Due dates" panel to the left sidebar: each assignment's
  due date and time in the browser's time zone, the time left (or how long ago it closed),
  and the receipt of the newest submission (version, the service's time, checksum, on time or
  late). It reloads every 30 seconds, when opened and with its Refresh button.

Enabled in every notebook server by ``coursehub/exchange/jupyter_config``; in dev, pods find
the plugin through ``JUPYTER_PATH`` (``coursehub.hub.services.pod_environment``), images get
it from the wheel (``share/jupyter/labextensions``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from coursehub.duedates.view import assignment_rows, student_courses

DATA_DIR = Path(__file__).parent / "data"


class DueDatesHandler(APIHandler):
    @web.authenticated
    async def get(self):
        service = os.environ.get("COURSEHUB_SERVICE_URL")
        token = os.environ.get("JUPYTERHUB_API_TOKEN")
        if not service or not token:
            raise web.HTTPError(503, "this server has no coursehub service to ask")
        base = f"{service.rstrip('/')}/api"
        me = await self._ask(f"{base}/me", token)
        rows = []
        for course in student_courses(me):
            listing = await self._ask(f"{base}/courses/{course}/assignments", token)
            rows.extend(assignment_rows(course, listing))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"assignments": rows}))

    async def _ask(self, url: str, token: str) -> dict:
        request = HTTPRequest(url, headers={"Authorization": f"token {token}"}, request_timeout=15)
        try:
            response = await AsyncHTTPClient().fetch(request)
        except (HTTPClientError, OSError) as error:
            self.log.warning("coursehub due dates: the service did not answer: %s", error)
            raise web.HTTPError(502, "the coursehub service did not answer") from None
        return json.loads(response.body)


def _jupyter_server_extension_points():
    return [{"module": "coursehub.duedates"}]


def _jupyter_labextension_paths():
    return [{"src": "data/labextensions/coursehub-duedates", "dest": "coursehub-duedates"}]


def _load_jupyter_server_extension(serverapp):
    route = url_path_join(serverapp.web_app.settings["base_url"], "coursehub", "due-dates")
    serverapp.web_app.add_handlers(".*$", [(route, DueDatesHandler)])
