"""The service's calls to the JupyterHub REST API with its own token (``JUPYTERHUB_API_TOKEN``;
its role ``coursehub-service`` says what it may do): list users with running servers,
stop a server."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

PAGE = 200


class HubUnavailable(Exception):
    pass


class HubClient:
    def __init__(self, api_url: str, token: str, timeout: float = 20):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    async def request(self, method: str, path: str, query: dict | None = None, body=None):
        url = f"{self.api_url}/{path}"
        if query:
            url += "?" + urlencode(query)
        request = HTTPRequest(
            url,
            method=method,
            headers={
                "Authorization": f"token {self.token}",
                "Accept": "application/jupyterhub-pagination+json",
            },
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True,
            request_timeout=self.timeout,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as error:
            if error.code == 404:
                return None
            raise HubUnavailable(f"{method} {url}: {error}") from None
        except OSError as error:
            raise HubUnavailable(f"{method} {url}: {error}") from None
        return json.loads(response.body) if response.body else None

    async def active_users(self) -> dict[str, dict]:
        """Users with a server that runs or is starting or stopping, by name (their
        models include ``servers``, each with ``ready``, ``pending``, ``last_activity``)."""
        users: dict[str, dict] = {}
        offset = 0
        while True:
            page = await self.request(
                "GET", "users", {"state": "active", "offset": offset, "limit": PAGE}
            )
            items = page["items"] if isinstance(page, dict) else (page or [])
            for user in items:
                users[user["name"]] = user
            pagination = page.get("_pagination") if isinstance(page, dict) else None
            if not pagination or not pagination.get("next") or not items:
                return users
            offset = pagination["next"]["offset"]

    async def stop_server(self, username: str, server_name: str = "") -> None:
        path = f"users/{quote(username)}/server"
        if server_name:
            path = f"users/{quote(username)}/servers/{quote(server_name)}"
        await self.request("DELETE", path)
