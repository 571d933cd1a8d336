"""The hub process's own calls to the coursehub service (GPU admission, the usage ledger,
rosters, and the membership overlay its ``CatalogSync`` polls: ``service_overlay_source``),
over HTTP with the token of the hub-internal service ``coursehub-hub``.

``configure`` generates that token at every hub start and registers it as the API token of
a JupyterHub service with one scope, ``access:services!service=coursehub``; the coursehub
service recognises the caller by the service name (``names.HUB_CLIENT_SERVICE``) after the
hub has vouched for the token, as for every other caller.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from coursehub.catalog.overlay import Overlay
from coursehub.catalog.sync import OverlaySource


class ServiceUnavailable(Exception):
    """The service could not be reached or answered with an error; ``status`` is 0 when
    nothing came back."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class HubServiceClient:
    def __init__(self, api_url: str, token: str, timeout: float = 20):
        """``api_url`` ends in ``/services/coursehub``; paths are under its ``/api``."""
        self.base = api_url.rstrip("/") + "/api"
        self.token = token
        self.timeout = timeout

    async def call(
        self, method: str, path: str, body: dict | None = None, query: dict | None = None
    ) -> dict:
        url = f"{self.base}/{path}"
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        request = HTTPRequest(
            url,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
            body=json.dumps(body) if body is not None else (b"" if method == "POST" else None),
            request_timeout=self.timeout,
            connect_timeout=min(self.timeout, 5),
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as error:
            raise ServiceUnavailable(error.code, _message(error)) from None
        except OSError as error:
            raise ServiceUnavailable(
                0, f"cannot reach the coursehub service at {url}: {error}"
            ) from None
        return json.loads(response.body or b"{}")


def _message(error: HTTPClientError) -> str:
    body = error.response.body if error.response is not None else b""
    try:
        return json.loads(body)["message"]
    except (ValueError, KeyError, TypeError):
        return (body or b"").decode(errors="replace").strip()[:300] or str(error)


def service_overlay_source(client: HubServiceClient) -> OverlaySource:
    """The hub's overlay source: ``GET api/memberships`` of the coursehub service with the
    hub's own token, sending the version it has so an unchanged overlay costs one small
    answer."""
    known: dict[str, str] = {}

    async def fetch() -> Overlay | None:
        body = await client.call("GET", "memberships", query={"since": known.get("version")})
        if body.get("unchanged"):
            return None
        overlay = Overlay.from_json(body["overlay"])
        known["version"] = body["version"]
        return overlay

    return fetch
