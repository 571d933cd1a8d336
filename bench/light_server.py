"""A stand-in notebook server for spawn benchmarks with many users.

It binds where jupyterhub-singleuser would (the host and port of ``JUPYTERHUB_SERVICE_URL``,
which the dev kubelet rewrites to the pod's own loopback IP) and answers every request, which
is all the hub waits for before it calls a server ready. It costs a few MB and ~50 ms to start,
so 100 of them measure the platform's overhead rather than JupyterLab's start-up.
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    ThreadingHTTPServer((url.hostname or "127.0.0.1", url.port or 8888), _Ok).serve_forever()


if __name__ == "__main__":
    main()
