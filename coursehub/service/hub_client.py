"""The hub's REST API as the coursehub service calls it, with its own token
(``JUPYTERHUB_API_TOKEN``; its role ``coursehub-service`` may list and read users and their
servers, stop servers, create users and manage groups). Used by group reconciliation
(``hub_sync``) and the GPU enforcer (``coursehub.service.gpu_enforcer``). ``HubError.status`` is
the hub's HTTP status (0: no answer).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from coursehub.service.reconcile import GroupSpec, Operation, hub_admins, is_managed_group

PAGINATION = "application/jupyterhub-pagination+json"


class HubError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status


class HubREST:
    """The few hub REST calls reconciliation needs."""

    def __init__(self, api_url: str, token: str, timeout: float = 30):
        self.base = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        paginated: bool = False,
    ) -> Any:
        url = f"{self.base}{path}"
        if query:
            url += "?" + urlencode(query)
        headers = {"Authorization": f"token {self.token}"}
        if paginated:
            headers["Accept"] = PAGINATION
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=json.dumps(body) if body is not None else None,
            request_timeout=self.timeout,
            connect_timeout=min(self.timeout, 5),
            # tornado refuses a body on DELETE unless told (the hub's group API uses one).
            allow_nonstandard_methods=True,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as error:
            text = error.response.body.decode(errors="replace")[:300] if error.response else ""
            with contextlib.suppress(ValueError, AttributeError):
                text = json.loads(text).get("message", text)
            raise HubError(error.code, text or str(error)) from None
        except OSError as error:
            raise HubError(0, f"cannot reach the hub API at {url}: {error}") from None
        return json.loads(response.body) if response.body else None

    async def all_pages(self, path: str, query: Mapping[str, Any] | None = None) -> list[dict]:
        items: list[dict] = []
        offset = 0
        while True:
            page = await self.call(
                "GET", path, query={**(query or {}), "offset": offset}, paginated=True
            )
            items.extend(page["items"])
            following = (page.get("_pagination") or {}).get("next")
            if not following or not page["items"]:
                return items
            offset = following["offset"]

    async def course_groups(self) -> dict[str, GroupSpec]:
        """The groups the service keeps (course groups and the admins' group)."""
        return {
            group["name"]: GroupSpec(
                frozenset(group.get("users") or ()), dict(group.get("properties") or {})
            )
            for group in await self.all_pages("/groups")
            if is_managed_group(group["name"])
        }

    async def active_users(self) -> list[dict]:
        return await self.all_pages("/users", {"state": "active"})

    async def all_users(self) -> list[dict]:
        return await self.all_pages("/users")

    async def admin_names(self) -> set[str]:
        """The hub's admins now (roster imports refuse them)."""
        return hub_admins(await self.all_users())

    async def apply(self, operation: Operation) -> str | None:
        """Apply one operation; returns what changed in words (None: nothing did)."""
        group = f"/groups/{quote(operation.group, safe='')}"
        if operation.kind == "create-users":
            try:
                created = await self.call("POST", "/users", {"usernames": list(operation.users)})
            except HubError as error:
                if error.status != 409:  # 409: they all exist already
                    raise
                return None
            names = ", ".join(user["name"] for user in created or [])
            return f"created hub users {names}" if names else None
        elif operation.kind == "create-group":
            try:
                await self.call("POST", group, {})
            except HubError as error:
                if error.status != 409:  # created meanwhile (a hub restart's load_groups)
                    raise
            if operation.properties:
                await self.call("PUT", f"{group}/properties", dict(operation.properties))
        elif operation.kind == "set-properties":
            await self.call("PUT", f"{group}/properties", dict(operation.properties or {}))
        elif operation.kind == "add":
            await self.call("POST", f"{group}/users", {"users": list(operation.users)})
        elif operation.kind == "remove":
            await self.call("DELETE", f"{group}/users", {"users": list(operation.users)})
        else:
            raise ValueError(f"unknown operation {operation.kind!r}")
        return str(operation)

    async def stop_server(self, username: str, server: str) -> None:
        user = quote(username, safe="")
        path = f"/users/{user}/servers/{quote(server, safe='')}" if server else ""
        await self.call("DELETE", path or f"/users/{user}/server")
