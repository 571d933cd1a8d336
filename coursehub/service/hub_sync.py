"""Keep the hub in step with the effective catalog: course groups and dropped members'
servers (the thin I/O around ``coursehub.service.reconcile``).

``HubREST`` is the hub's REST API with the service's own token (``JUPYTERHUB_API_TOKEN``;
its role ``coursehub-service`` may list and read users and their servers, stop servers,
create users and manage groups). ``HubSync`` runs one reconciliation pass at start-up,
after every change of the effective catalog (a file edit, a roster import, a sign-in
membership), and every ``interval`` seconds as a safety net (hub restarts, hand edits in
the admin page). A pass triggered by a change is repeated ``follow_up`` seconds later: the
hub learns about the change on its own next poll, and a dropped student who started a
server in between is caught by the second pass.

A pass: read the course groups, apply ``plan_groups`` (logging every change), then stop
the servers ``servers_to_stop`` names. Errors are logged once per outage; the next pass
retries. ``state()`` says whether a first pass succeeded (the health endpoint shows it,
and ``coursehub dev`` waits for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from coursehub.catalog import Catalog
from coursehub.hub.catalog_sync import CatalogSync
from coursehub.service.reconcile import (
    GroupSpec,
    Operation,
    desired_groups,
    is_course_group,
    plan_groups,
    servers_to_stop,
)

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
        return {
            group["name"]: GroupSpec(
                frozenset(group.get("users") or ()), dict(group.get("properties") or {})
            )
            for group in await self.all_pages("/groups")
            if is_course_group(group["name"])
        }

    async def active_users(self) -> list[dict]:
        return await self.all_pages("/users", {"state": "active"})

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


class HubSync:
    def __init__(
        self,
        catalog_sync: CatalogSync,
        hub: HubREST,
        log: logging.Logger,
        interval: float = 60.0,
        follow_up: float = 5.0,
    ):
        self.catalog_sync = catalog_sync
        self.hub = hub
        self.log = log
        self.interval = interval
        self.follow_up = follow_up
        self.synced_at: datetime | None = None
        self.error: str | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._follow_up: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._wake = asyncio.Event()
        self.catalog_sync.on_change(self._changed)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._follow_up is not None:
            self._follow_up.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def state(self) -> dict:
        return {
            "synced": self.synced_at is not None,
            "synced_at": self.synced_at.isoformat(timespec="seconds") if self.synced_at else None,
            "error": self.error,
        }

    def request(self) -> None:
        """Ask for a pass soon (listeners must not block, so this only wakes the loop)."""
        if self._wake is not None:
            self._wake.set()

    def _changed(self, _catalog: Catalog) -> None:
        self.request()
        if self._follow_up is not None:
            self._follow_up.cancel()
        self._follow_up = asyncio.get_running_loop().call_later(self.follow_up, self.request)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            await self.reconcile_once()
            # After a failure (the hub restarting), try again soon rather than in a minute.
            wait = self.interval if self.error is None else self.follow_up
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def reconcile_once(self) -> tuple[list[Operation], list[str]]:
        """One pass; returns the group operations applied and the servers stopped (as
        ``user/server`` names). Never raises: errors are logged (once per outage)."""
        catalog = self.catalog_sync.current()
        applied: list[Operation] = []
        stopped: list[str] = []
        try:
            plan = plan_groups(desired_groups(catalog), await self.hub.course_groups())
            for operation in plan:
                done = await self.hub.apply(operation)
                applied.append(operation)
                if done:
                    self.log.info("Course groups: %s", done)
            for stop in servers_to_stop(catalog, await self.hub.active_users()):
                try:
                    await self.hub.stop_server(stop.username, stop.server)
                except HubError as error:  # e.g. a spawn still pending: the next pass retries
                    self.log.warning("Cannot stop the server of %s yet: %s", stop.username, error)
                    continue
                stopped.append(f"{stop.username}/{stop.server}")
                self.log.info("Stopped the server of %s: %s", stop.username, stop.reason)
        except Exception as error:  # the loop must survive the hub being away
            if self.error is None:
                self.log.warning(
                    "Reconciling course groups and servers with the hub failed: %s; retrying "
                    "every %.0f s (logged again when it works)",
                    error,
                    self.follow_up,
                )
            self.error = str(error) or type(error).__name__
            return applied, stopped
        if self.error is not None:
            self.log.info("Reconciling course groups with the hub works again")
        self.error = None
        self.synced_at = datetime.now(UTC)
        return applied, stopped
