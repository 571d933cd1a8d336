"""Keep the hub's view of the course catalog current.

``CatalogSync`` owns one ``coursehub.catalog.CatalogReloader`` and polls it every few
seconds with a tornado ``PeriodicCallback`` on the hub's event loop. Readers call
``current()`` and always get the latest valid catalog (a catalog with errors keeps the
previous one; the reloader logs the problems with file:line). Listeners registered with
``on_change`` run after each successful reload, on the loop, and must not block.

The hub loads its config file inside its running loop, so ``configure()`` can start the
poller at once; ``current()`` also starts it lazily for callers outside that path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tornado.ioloop import PeriodicCallback

from coursehub.catalog import CatalogReloader

if TYPE_CHECKING:
    from coursehub.catalog import Catalog


class CatalogSync:
    def __init__(self, courses_dir: Path, log: logging.Logger, interval_seconds: float = 2.0):
        self.courses_dir = Path(courses_dir)
        self.log = log
        self.interval_seconds = interval_seconds
        self.reloader = CatalogReloader(self.courses_dir, log)
        self._listeners: list[Callable[[Catalog], None]] = []
        self._poller: PeriodicCallback | None = None

    def current(self) -> Catalog:
        """The latest valid catalog."""
        self.start()
        return self.reloader.catalog

    def on_change(self, listener: Callable[[Catalog], None]) -> None:
        self._listeners.append(listener)

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
        return True

    def stop(self) -> None:
        if self._poller is not None:
            self._poller.stop()
            self._poller = None

    def poll(self) -> bool:
        """Check the catalog files once; returns whether a new catalog was loaded."""
        try:
            changed = self.reloader.check()
        except Exception:  # a poller that dies silently would freeze the catalog
            self.log.exception("Checking the course catalog in %s failed", self.courses_dir)
            return False
        if changed:
            catalog = self.reloader.catalog
            self.log.info(
                "Course catalog reloaded from %s: %d course(s)",
                self.courses_dir,
                len(catalog.courses),
            )
            for listener in self._listeners:
                try:
                    listener(catalog)
                except Exception:
                    self.log.exception("A catalog listener failed")
        return changed
