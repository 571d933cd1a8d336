"""Keep a process's view of the course catalog current: course files plus memberships.

``CatalogSync`` owns one ``coursehub.catalog.CatalogReloader`` (the course files) and,
optionally, an *overlay source*: an async callable that returns the membership overlay
(imported rosters, sign-in memberships; see ``coursehub.catalog.overlay``), or None when it
has not changed since the last call. The hub's source asks the coursehub service
(``coursehub.hub.service_client.service_overlay_source``); the service's own source reads
its database (``coursehub.service.memberships.database_overlay_source``).

It polls both every few seconds with a tornado ``PeriodicCallback`` on the process's event
loop. ``poll()`` is a coroutine: the file check is a few ``stat`` calls, the overlay comes
over HTTP or from a database worker thread, so the loop never waits on either; the callback
awaits one poll before scheduling the next, and a lock keeps a poll and a
``refresh_overlay()`` from interleaving.

Readers call ``current()`` and always get the latest *effective* catalog: the latest valid
file catalog (a catalog with errors keeps the previous one; the reloader logs the problems
with file:line) with the latest overlay applied. If the overlay source fails (the service is
down), the last overlay is kept and the outage is logged once, not at every poll, and once
more when it ends. Listeners registered with ``on_change`` run, on the loop, whenever the
effective catalog changes (a file edit, an import, a sign-in membership) and must not
block.

``refresh_overlay()`` reloads at once (the sign-in authenticators call it after recording
memberships, so the very next spawn sees them); ``wait_ready()`` makes one attempt when no
overlay was ever loaded (the spawner calls it before deciding, so a hub that has just
started does not let a student dropped by an import in).

The hub loads its config file inside its running loop, so ``configure()`` can start the
poller at once; ``current()`` also starts it lazily for callers outside that path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tornado.ioloop import PeriodicCallback

from coursehub.catalog import CatalogReloader
from coursehub.catalog.overlay import EMPTY, Overlay, with_memberships

if TYPE_CHECKING:
    from coursehub.catalog import Catalog

# Returns the overlay, or None when it is unchanged since the last successful call.
OverlaySource = Callable[[], Awaitable[Overlay | None]]


class CatalogSync:
    def __init__(
        self,
        courses_dir: Path,
        log: logging.Logger,
        interval_seconds: float = 2.0,
        overlay_source: OverlaySource | None = None,
        overlay_origin: str = "the coursehub service",
    ):
        self.courses_dir = Path(courses_dir)
        self.log = log
        self.interval_seconds = interval_seconds
        self.reloader = CatalogReloader(self.courses_dir, log)
        self.overlay: Overlay = EMPTY
        self.overlay_origin = overlay_origin
        self._overlay_source = overlay_source
        self._overlay_loaded = False
        self._overlay_failing = False
        self._file_catalog = self.reloader.catalog
        self._effective = self._file_catalog
        # The file catalog and overlay objects the effective catalog was built from.
        self._applied: tuple[Catalog, Overlay] | None = None
        self._listeners: list[Callable[[Catalog], None]] = []
        self._poller: PeriodicCallback | None = None
        self._lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task] = set()

    # ----- reading --------------------------------------------------------------------

    def current(self) -> Catalog:
        """The latest effective catalog (course files + overlay)."""
        self.start()
        return self._effective

    def file_catalog(self) -> Catalog:
        """The latest valid catalog of the course files alone."""
        return self._file_catalog

    @property
    def overlay_loaded(self) -> bool:
        """True once an overlay came from the source (always, without a source)."""
        return self._overlay_source is None or self._overlay_loaded

    def on_change(self, listener: Callable[[Catalog], None]) -> None:
        self._listeners.append(listener)

    def set_overlay_source(self, source: OverlaySource | None) -> None:
        """Use ``source`` from now on (a poll starts at once if polling runs)."""
        self._overlay_source = source
        self._overlay_loaded = False
        if self._poller is not None and source is not None:
            self._poll_soon()

    def _poll_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self.poll())
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    # ----- polling --------------------------------------------------------------------

    def start(self) -> bool:
        """Start polling on the running loop; returns whether polling runs (no loop: no)."""
        if self._poller is not None:
            return True
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._poller = PeriodicCallback(self.poll, self.interval_seconds * 1000)
        self._poller.start()
        if self._overlay_source is not None:
            self._poll_soon()  # the first overlay now, not one interval later
        return True

    def stop(self) -> None:
        if self._poller is not None:
            self._poller.stop()
            self._poller = None

    async def poll(self) -> bool:
        """Check the course files and the overlay once; returns whether the effective
        catalog changed."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self._check_files()
            await self._load_overlay()
            return self._update()

    async def refresh_overlay(self) -> bool:
        """Reload the overlay (and check the files) now; returns whether the effective
        catalog changed. Listeners have run when it returns."""
        return await self.poll()

    async def wait_ready(self, timeout: float = 5.0) -> None:
        """If no overlay was ever loaded, try once (at most ``timeout`` seconds)."""
        if self.overlay_loaded:
            return
        try:
            await asyncio.wait_for(self.refresh_overlay(), timeout)
        except TimeoutError:
            self.log.warning(
                "Course memberships from %s did not arrive within %.0f s; deciding with "
                "the course files alone",
                self.overlay_origin,
                timeout,
            )

    def _check_files(self) -> None:
        try:
            if self.reloader.check():
                self._file_catalog = self.reloader.catalog
                self.log.info(
                    "Course catalog reloaded from %s: %d course(s)",
                    self.courses_dir,
                    len(self._file_catalog.courses),
                )
        except Exception:  # a poller that dies silently would freeze the catalog
            self.log.exception("Checking the course catalog in %s failed", self.courses_dir)

    async def _load_overlay(self) -> None:
        if self._overlay_source is None:
            return
        try:
            overlay = await self._overlay_source()
        except Exception as error:
            if not self._overlay_failing:
                self._overlay_failing = True
                # At start-up the service may simply not be up yet.
                level = logging.WARNING if self._overlay_loaded else logging.INFO
                self.log.log(
                    level,
                    "Cannot load course memberships (imported rosters, sign-in) from %s: %s; "
                    "%s, retrying every %.0f s (logged again when it works)",
                    self.overlay_origin,
                    error,
                    "keeping the last ones" if self._overlay_loaded else "course files only",
                    self.interval_seconds,
                )
            return
        if self._overlay_failing:
            self._overlay_failing = False
            self.log.info("Course memberships from %s load again", self.overlay_origin)
        self._overlay_loaded = True
        if overlay is not None:
            self.overlay = overlay

    def _update(self) -> bool:
        applied = (self._file_catalog, self.overlay)
        if self._applied is not None and all(
            now is before for now, before in zip(applied, self._applied, strict=True)
        ):
            return False
        self._applied = applied
        effective = with_memberships(self._file_catalog, self.overlay)
        changed = effective.courses != self._effective.courses
        self._effective = effective
        if changed:
            for listener in self._listeners:
                try:
                    listener(effective)
                except Exception:
                    self.log.exception("A catalog listener failed")
        return changed
