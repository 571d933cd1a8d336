"""Keep the hub in step with the effective catalog: course groups and dropped members'
servers (the thin I/O around ``coursehub.service.reconcile``).

``HubSync`` (with ``coursehub.service.hub_client.HubREST``, the hub's REST API with the
service's own token) runs one reconciliation pass at start-up,
after every change of the effective catalog (a file edit, a roster import, a sign-in
membership), and every ``interval`` seconds as a safety net (hub restarts, hand edits in
the admin page). A pass triggered by a change is repeated ``follow_up`` seconds later: the
hub learns about the change on its own next poll, and a dropped student who started a
server in between is caught by the second pass.

A pass: read the hub's users (their admin flags and servers) and the groups the service
keeps, apply ``plan_groups`` (logging every change), then stop the servers
``servers_to_stop`` names. Errors are logged once per outage; the next pass
retries. ``state()`` says whether a first pass succeeded (the health endpoint shows it,
and ``coursehub dev`` waits for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from coursehub.catalog import Catalog
from coursehub.catalog.sync import CatalogSync
from coursehub.service.hub_client import HubError, HubREST
from coursehub.service.reconcile import (
    Operation,
    desired_groups,
    hub_admins,
    plan_groups,
    servers_to_stop,
)


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
            users = await self.hub.all_users()
            desired = desired_groups(catalog, hub_admins(users))
            plan = plan_groups(desired, await self.hub.course_groups())
            for operation in plan:
                done = await self.hub.apply(operation)
                applied.append(operation)
                if done:
                    self.log.info("Course groups: %s", done)
            for stop in servers_to_stop(catalog, users):
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
