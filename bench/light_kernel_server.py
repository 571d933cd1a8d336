"""A stand-in notebook server with one light kernel, for the start-of-class benchmark.

Like ``light_server.py`` it binds where jupyterhub-singleuser would and answers every GET (all
the hub waits for). It also speaks the two parts of Jupyter Server's kernel API a student's
first cell needs: ``POST <prefix>/api/kernels`` (a kernel id) and the websocket
``<prefix>/api/kernels/<id>/channels``, which answers an ``execute_request`` the way ipykernel
does (status busy, ``execute_result``, ``execute_reply``, status idle) after evaluating the
cell as a Python expression. It costs one small Tornado process per student, so 500 of them
measure the hub, proxy and cluster rather than 500 JupyterLabs on 2 cores.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from urllib.parse import urlparse

from tornado import ioloop, web, websocket


def _reply(request: dict, msg_type: str, content: dict, channel: str = "iopub") -> str:
    return json.dumps(
        {
            "header": {
                "msg_id": uuid.uuid4().hex,
                "msg_type": msg_type,
                "session": request["header"].get("session", ""),
                "username": request["header"].get("username", ""),
                "date": datetime.now(UTC).isoformat(),
                "version": "5.3",
            },
            "parent_header": request["header"],
            "metadata": {},
            "content": content,
            "channel": channel,
        }
    )


class Channels(websocket.WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True

    def on_message(self, message: str | bytes) -> None:
        request = json.loads(message)
        if request["header"].get("msg_type") != "execute_request":
            return
        code = request["content"].get("code", "")
        self.write_message(_reply(request, "status", {"execution_state": "busy"}))
        try:
            value = repr(eval(code, {}))  # the bench's own cell, e.g. "sum(range(10))"
            status = "ok"
        except Exception as error:  # the student's error is the cell's output, as in Jupyter
            value, status = f"{type(error).__name__}: {error}", "error"
        self.write_message(
            _reply(
                request,
                "execute_result",
                {"execution_count": 1, "data": {"text/plain": value}, "metadata": {}},
            )
        )
        self.write_message(
            _reply(request, "execute_reply", {"status": status, "execution_count": 1}, "shell")
        )
        self.write_message(_reply(request, "status", {"execution_state": "idle"}))


class Kernels(web.RequestHandler):
    def check_xsrf_cookie(self) -> None:  # no sign-in here: the hub's side is what is measured
        pass

    def post(self) -> None:
        self.set_status(201)
        self.finish({"id": uuid.uuid4().hex, "name": "python3", "execution_state": "idle"})


class Anything(web.RequestHandler):
    def get(self, _path: str) -> None:
        self.finish({"ok": True})


def main() -> None:
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/").rstrip("/")
    app = web.Application(
        [
            (rf"{prefix}/api/kernels", Kernels),
            (rf"{prefix}/api/kernels/[^/]+/channels", Channels),
            (r"(.*)", Anything),
        ]
    )
    app.listen(url.port or 8888, address=url.hostname or "127.0.0.1")
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
