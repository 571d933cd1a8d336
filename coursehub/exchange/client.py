"""A small client of the coursehub service's exchange API, for notebook pods.

``ServiceClient.from_environ()`` reads ``COURSEHUB_SERVICE_URL`` and the server's hub token
``JUPYTERHUB_API_TOKEN``; the token is the only identity sent. Errors raise
``ServiceError`` carrying the service's own message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import requests


class ServiceError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ServiceClient:
    def __init__(self, base_url: str, token: str, timeout: float = 120):
        self.base = base_url.rstrip("/") + "/api"
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> ServiceClient:
        url = environ.get("COURSEHUB_SERVICE_URL")
        token = environ.get("JUPYTERHUB_API_TOKEN")
        if not url:
            raise ServiceError(
                0,
                "COURSEHUB_SERVICE_URL is not set: this server cannot reach the assignment "
                "exchange (ask your course staff; the platform sets it for every server)",
            )
        if not token:
            raise ServiceError(0, "JUPYTERHUB_API_TOKEN is not set: start this server from the hub")
        return cls(url, token)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """One call to ``<base>/api/<path>``; a refusal raises ``ServiceError``."""
        url = f"{self.base}/{path}"
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as error:
            raise ServiceError(
                0, f"cannot reach the assignment exchange at {url}: {error}"
            ) from None
        if response.status_code >= 400:
            try:
                message = response.json()["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text.strip()[:300] or response.reason
            raise ServiceError(response.status_code, message)
        return response

    def json(self, method: str, path: str, **kwargs) -> dict:
        return self.request(method, path, **kwargs).json()

    def download(self, path: str) -> bytes:
        return self.request("GET", path).content

    def upload(self, method: str, path: str, data: bytes) -> dict:
        headers = {"Content-Type": "application/gzip"}
        return self.request(method, path, data=data, headers=headers).json()

    # ----- the endpoints the plugin uses ---------------------------------------------------

    def me(self) -> dict:
        return self.json("GET", "me")

    def assignments(self, course: str) -> dict:
        return self.json("GET", f"courses/{course}/assignments")

    def fetch_release(self, course: str, assignment: str) -> bytes:
        return self.download(f"courses/{course}/assignments/{assignment}/release")

    def release(self, course: str, assignment: str, data: bytes) -> dict:
        return self.upload("PUT", f"courses/{course}/assignments/{assignment}/release", data)

    def withdraw(self, course: str, assignment: str) -> dict:
        return self.json("DELETE", f"courses/{course}/assignments/{assignment}/release")

    def submit(self, course: str, assignment: str, data: bytes) -> dict:
        return self.upload("POST", f"courses/{course}/assignments/{assignment}/submissions", data)

    def submissions(
        self, course: str, assignment: str, student: str | None = None, collect: bool = False
    ) -> list[dict]:
        params = {"collect": "1"} if collect else {}
        if student:
            params["student"] = student
        path = f"courses/{course}/assignments/{assignment}/submissions"
        return self.json("GET", path, params=params)["submissions"]

    def submission(self, course: str, assignment: str, student: str, version: int) -> bytes:
        path = f"courses/{course}/assignments/{assignment}/submissions/{student}/{version}"
        return self.download(path)

    def feedback_list(self, course: str, assignment: str, student: str | None = None) -> list:
        params = {"student": student} if student else {}
        path = f"courses/{course}/assignments/{assignment}/feedback"
        return self.json("GET", path, params=params)["feedback"]

    def feedback(self, course: str, assignment: str, student: str, version: int) -> bytes:
        return self.download(
            f"courses/{course}/assignments/{assignment}/feedback/{student}/{version}"
        )

    def give_feedback(
        self, course: str, assignment: str, student: str, version: int, data: bytes
    ) -> dict:
        path = f"courses/{course}/assignments/{assignment}/feedback/{student}/{version}"
        return self.upload("PUT", path, data)
