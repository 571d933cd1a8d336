"""The service's GPU enforcer: every ``COURSEHUB_GPU_ENFORCE_SECONDS`` it compares the
ledger's open sessions with the hub's running servers and applies the courses' policies.

One pass (``Enforcer.tick``):

1. Read the open sessions, then the hub's active users (in that order, so every session
   read was opened before the hub's answer and its server is in it if it exists).
2. A session whose server the hub no longer has is closed as ``vanished`` at the time it
   was last seen running (the pod died or was deleted while the hub or the spawner did not
   report it); a session whose server runs gets ``last_seen_at`` (and ``started_at`` if the
   start report was lost).
3. ``policy.judge`` on each running session: stop (budget, session limit, GPU idle time)
   closes the session with its reason and a sentence, then asks the hub to stop the server;
   warn stores the sentence as the session's notice, once, for JupyterLab to show.

If the hub does not answer, the pass changes nothing: sessions are never closed on a guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

from coursehub.catalog import Catalog
from coursehub.gpu import ledger, policy
from coursehub.service.hub_client import HubError, HubREST

log = logging.getLogger("coursehub.gpu")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class Action:
    session_id: int
    username: str
    server_name: str
    kind: str  # "stop" | "warn" | "vanished" | "unqueued"
    reason: str
    message: str


class Enforcer:
    def __init__(self, context, hub: HubREST, interval: float):
        self.context = context
        self.hub = hub
        self.interval = interval
        self._task: asyncio.Task | None = None
        self._hub_down = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # one bad pass must not end enforcement
                log.exception("GPU enforcement pass failed")
            await asyncio.sleep(self.interval)

    async def tick(self) -> list[Action]:
        db = self.context.db
        # Sessions first, then the hub (see the module doc); only these sessions are judged.
        sessions = await db.run(ledger.open_sessions)
        known = {row.id for row in sessions}
        queued = {entry.id for entry in await db.run(ledger.all_waiting)}
        if not known and not queued:
            return []
        try:
            users = {user["name"]: user for user in await self.hub.active_users()}
        except HubError as error:
            if not self._hub_down:
                log.warning("GPU enforcement paused: the hub does not answer (%s)", error)
            self._hub_down = True
            return []
        if self._hub_down:
            log.info("GPU enforcement resumed: the hub answers again")
            self._hub_down = False
        now = self.context.now()
        catalog = self.context.catalog
        actions = await db.run(lambda session: plan(session, catalog, users, known, now))
        actions += await db.run(lambda session: drop_stale_waits(session, users, queued, now))
        for action in actions:
            if action.kind == "stop":
                log.info(
                    "Stopping %s's GPU server (%s): %s",
                    action.username,
                    action.reason,
                    action.message,
                )
                try:
                    await self.hub.stop_server(action.username, action.server_name)
                except HubError as error:
                    if error.status != 404:  # 404: it stopped meanwhile
                        log.error("Could not stop %s's GPU server: %s", action.username, error)
            elif action.kind == "warn":
                log.info("Warned %s: %s", action.username, action.message)
            elif action.kind == "vanished":
                log.info("Closed %s's GPU session: its server is gone", action.username)
            else:
                log.info("Took %s out of the GPU queue: no spawn waits", action.username)
        return actions


def plan(
    db, catalog: Catalog, users: dict[str, dict], known: set[int], now: datetime
) -> list[Action]:
    """Steps 2 and 3 of a pass, inside one transaction, for the sessions in ``known`` (open
    before the hub was asked); returns what was decided."""
    actions: list[Action] = []
    running: dict[tuple[str, str], int] = {}
    sessions = ledger.open_sessions(db)
    for row in sessions:
        running[(row.username, row.course)] = running.get((row.username, row.course), 0) + (
            row.gpus
        )
    for row in sessions:
        if row.id not in known:
            continue
        server = ((users.get(row.username) or {}).get("servers") or {}).get(row.server_name)
        if server is None:
            ledger.close_open(db, row, "vanished", row.last_seen_at or row.started_at or now)
            actions.append(
                Action(row.id, row.username, row.server_name, "vanished", "vanished", "")
            )
            continue
        if not server.get("ready"):
            continue  # starting or stopping: the spawner reports its end
        if row.started_at is None:
            row.started_at = now
        row.last_seen_at = now
        course = catalog.courses.get(row.course)
        if course is None:
            continue  # a course removed from the catalog: its sessions run out unpoliced
        verdict = policy.judge(
            course,
            row.role,
            row.gpus,
            row.started_at,
            ledger.used_hours(db, row.username, row.course, now),
            running[(row.username, row.course)],
            ledger.extra_hours(db, row.username, row.course, now),
            parse_time(server.get("last_activity")),
            now,
        )
        if verdict is None:
            continue
        if verdict.action == "stop":
            ledger.close_open(db, row, verdict.reason, now)
            row.notice, row.notice_at = verdict.message, now
            actions.append(
                Action(
                    row.id, row.username, row.server_name, "stop", verdict.reason, verdict.message
                )
            )
        elif row.notice is None:
            row.notice, row.notice_at = verdict.message, now
            actions.append(
                Action(
                    row.id, row.username, row.server_name, "warn", verdict.reason, verdict.message
                )
            )
    return actions


def drop_stale_waits(db, users: dict[str, dict], known: set[int], now: datetime) -> list[Action]:
    """Queue entries (in ``known``, read before the hub was asked) whose spawn the hub no
    longer has pending leave the queue, so a lost spawn cannot hold the line."""
    actions = []
    for entry in ledger.all_waiting(db):
        if entry.id not in known:
            continue
        server = ((users.get(entry.username) or {}).get("servers") or {}).get(entry.server_name)
        if server is None or server.get("pending") != "spawn":
            entry.left_at, entry.outcome = now, "left"
            actions.append(Action(entry.id, entry.username, entry.server_name, "unqueued", "", ""))
    return actions
