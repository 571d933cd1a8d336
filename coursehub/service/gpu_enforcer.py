"""The service's GPU enforcer: every ``COURSEHUB_GPU_ENFORCE_SECONDS`` it compares the
ledger's open sessions with the hub's running servers and applies the courses' policies.

One pass (``Enforcer.tick``):

1. Read the open sessions, then the hub's active users (in that order, so every session
   read was opened before the hub's answer and its server is in it if it exists).
2. A session whose server the hub no longer has is closed at the time it was last seen
   running: as ``vanished`` (the pod died or was deleted while the hub or the spawner did
   not report it), or with the reason of the stop the enforcer asked for. A session whose
   server runs gets ``last_seen_at`` (and ``started_at`` if the start report was lost).
3. A session whose stop the enforcer asked for and whose server is still there: the stop
   is asked for again (the hub was down, the request failed, the stop did not happen). The
   session stays open until the hub reports the stop or no longer lists the server, so the
   server counts in its course's cap and is charged until it is really gone.
4. ``policy.judge`` on each running session: stop (budget, session limit, GPU idle time,
   judged from the server's telemetry: ``last_gpu_busy_at``, not the hub's activity)
   records the reason and a sentence and asks the hub to stop the server; warn stores the
   sentence as the session's notice, once, for JupyterLab to show.
5. A ready server whose profile (``user_options.profile``, or the user's default) is a GPU
   environment but which has no open session (its session was lost, closed while the
   server ran on, or the server started around admission) gets one, charged from its start
   or from where its last session stopped charging: the cap and the budget count every
   GPU server the hub runs. If the course would not admit it now (cap, budget, no longer a
   member), that session asks for its stop (``unadmitted``), as in 3.

If the hub does not answer, the pass changes nothing: sessions are never closed on a guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

from coursehub.catalog import Catalog
from coursehub.catalog.entitlements import ProfileRefused, resolve_profile
from coursehub.catalog.model import Course, Environment
from coursehub.gpu import policy
from coursehub.service import gpu_ledger
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
    kind: str  # "stop" | "warn" | "vanished" | "gone" | "adopted" | "unqueued"
    reason: str
    message: str


class Enforcer:
    def __init__(self, context, hub: HubREST, interval: float):
        self.context = context
        self.hub = hub
        self.interval = interval
        self._task: asyncio.Task | None = None
        self._hub_down = False
        self._stopping: set[int] = set()  # sessions whose stop was asked for (log once)

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
        sessions = await db.run(gpu_ledger.open_sessions)
        known = {row.id for row in sessions}
        self._stopping &= known  # closed since (the hub reported the stop): forget them
        queued = {entry.id for entry in await db.run(gpu_ledger.all_waiting)}
        asked_at = self.context.now()
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
        actions = await db.run(
            lambda session: plan(session, catalog, users, known, now, asked_at=asked_at)
        )
        actions += await db.run(lambda session: drop_stale_waits(session, users, queued, now))
        for action in actions:
            if action.kind == "stop":
                await self._stop(action)
            elif action.kind == "warn":
                log.info("Warned %s: %s", action.username, action.message)
            elif action.kind == "vanished":
                log.info("Closed %s's GPU session: its server is gone", action.username)
            elif action.kind == "gone":
                self._stopping.discard(action.session_id)
                log.info(
                    "%s's GPU server is gone (%s): session closed", action.username, action.reason
                )
            elif action.kind == "adopted":
                log.warning(
                    "%s's GPU server ran without a GPU session: counted from now on",
                    action.username,
                )
            else:
                log.info("Took %s out of the GPU queue: no spawn waits", action.username)
        return actions

    async def _stop(self, action: Action) -> None:
        """Ask the hub to stop the server; a failure is retried by the next pass (the
        session stays open until the server is gone)."""
        first = action.session_id not in self._stopping
        self._stopping.add(action.session_id)
        if first:
            log.info(
                "Stopping %s's GPU server (%s): %s",
                action.username,
                action.reason,
                action.message,
            )
        try:
            await self.hub.stop_server(action.username, action.server_name)
        except HubError as error:
            if error.status == 404:  # it stopped meanwhile: the next pass closes it
                return
            log.warning(
                "Could not stop %s's GPU server (%s); asking again next pass: %s",
                action.username,
                action.reason,
                error,
            )


def plan(
    db,
    catalog: Catalog,
    users: dict[str, dict],
    known: set[int],
    now: datetime,
    asked_at: datetime | None = None,
) -> list[Action]:
    """Steps 2 to 5 of a pass, inside one transaction, for the sessions in ``known`` (open
    before the hub was asked, at ``asked_at``); returns what was decided."""
    actions: list[Action] = []
    running: dict[tuple[str, str], float] = {}  # GPU-equivalents per user and course
    sessions = gpu_ledger.open_sessions(db)
    for row in sessions:
        running[(row.username, row.course)] = running.get((row.username, row.course), 0) + (
            row.gpu_equivalents
        )
    for row in sessions:
        if row.id not in known:
            continue
        server = _server(users, row.username, row.server_name)
        if server is None:
            kind = "gone" if gpu_ledger.stop_requested(row) else "vanished"
            gpu_ledger.close_open(db, row, "vanished", row.last_seen_at or row.started_at or now)
            actions.append(Action(row.id, row.username, row.server_name, kind, row.stop_reason, ""))
            continue
        if gpu_ledger.stop_requested(row):
            # Still there: still holding its GPUs, still charged; ask again.
            row.last_seen_at = now
            actions.append(
                Action(row.id, row.username, row.server_name, "stop", row.stop_reason, row.notice)
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
            row.gpu_equivalents,
            row.started_at,
            gpu_ledger.used_hours(db, row.username, row.course, now),
            running[(row.username, row.course)],
            gpu_ledger.extra_hours(db, row.username, row.course, now),
            # Real use from the server's telemetry, never the hub's last_activity (browser
            # activity, which any open tab or script keeps fresh).
            row.last_gpu_busy_at,
            now,
        )
        if verdict is None:
            continue
        if verdict.action == "stop":
            gpu_ledger.request_stop(row, verdict.reason, verdict.message, now)
            actions.append(
                Action(
                    row.id, row.username, row.server_name, "stop", verdict.reason, verdict.message
                )
            )
        elif row.notice is None:
            row.notice, row.notice_at, row.notice_reason = verdict.message, now, verdict.reason
            actions.append(
                Action(
                    row.id, row.username, row.server_name, "warn", verdict.reason, verdict.message
                )
            )
    open_servers = {(row.username, row.server_name) for row in sessions}
    actions += adopt_unsessioned(db, catalog, users, open_servers, now, asked_at or now)
    return actions


def _server(users: dict[str, dict], username: str, server_name: str) -> dict | None:
    return ((users.get(username) or {}).get("servers") or {}).get(server_name)


def gpu_environment(
    catalog: Catalog, username: str, is_admin: bool, user_options: dict | None
) -> tuple[Course, Environment] | None:
    """The GPU environment a server runs, from its ``user_options.profile`` (none: the
    user's default profile, as the spawner picked it); None for a CPU or unknown one."""
    slug = (user_options or {}).get("profile") or ""
    if slug:
        found = catalog.profile(str(slug))
    else:
        try:
            entitlement = resolve_profile(catalog, username, is_admin, "")
        except ProfileRefused:
            return None
        found = (entitlement.course, entitlement.environment)
    if found is None or not found[1].gpu_count:
        return None
    return found


def adopt_unsessioned(
    db,
    catalog: Catalog,
    users: dict[str, dict],
    open_servers: set[tuple[str, str]],
    now: datetime,
    asked_at: datetime,
) -> list[Action]:
    """Step 5: ready GPU servers without an open session (``open_servers``: (user, server)
    of the open sessions this transaction read) get one (``gpu_ledger.adopt_running``, which
    checks again under the course's lock). A server whose session closed after the hub was
    asked is skipped: the hub's answer predates that stop, and the next pass sees the
    truth."""
    actions = []
    for username, user in users.items():
        for server_name, server in (user.get("servers") or {}).items():
            if not server.get("ready") or (username, server_name) in open_servers:
                continue  # starting or stopping (the spawner reports both), or counted
            found = gpu_environment(
                catalog, username, bool(user.get("admin")), server.get("user_options")
            )
            if found is None or gpu_ledger.closed_since(db, username, server_name, asked_at):
                continue
            course, environment = found
            role = course.role_of(username) or ("staff" if user.get("admin") else None)
            adopted = gpu_ledger.adopt_running(
                db,
                course,
                environment,
                username,
                server_name,
                role,
                parse_time(server.get("started")),
                now,
            )
            if adopted is None:
                continue
            row, decision = adopted
            if decision.admitted:
                actions.append(Action(row.id, username, server_name, "adopted", "", ""))
            else:
                actions.append(
                    Action(row.id, username, server_name, "stop", row.stop_reason, row.notice)
                )
    return actions


def drop_stale_waits(db, users: dict[str, dict], known: set[int], now: datetime) -> list[Action]:
    """Queue entries (in ``known``, read before the hub was asked) whose spawn the hub no
    longer has pending leave the queue, so a lost spawn cannot hold the line."""
    actions = []
    for entry in gpu_ledger.all_waiting(db):
        if entry.id not in known:
            continue
        server = ((users.get(entry.username) or {}).get("servers") or {}).get(entry.server_name)
        if server is None or server.get("pending") != "spawn":
            entry.left_at, entry.outcome = now, "left"
            actions.append(Action(entry.id, entry.username, entry.server_name, "unqueued", "", ""))
    return actions
