"""Keep a catalog current by re-reading the course files when they change.

``CatalogReloader.check()`` compares the modification time and size of every course file
and roster (and notices course folders appearing or disappearing); it is cheap enough to
call every few seconds. It does no scheduling itself: the hub polls it on its loop.
"""

from __future__ import annotations

import logging
from pathlib import Path

from coursehub.catalog.catalog import Catalog, CatalogError
from coursehub.catalog.loader import COURSE_FILE, load_catalog

# path -> (mtime_ns, size), or None for a file that is named but missing.
Fingerprint = dict[Path, tuple[int, int] | None]


class CatalogReloader:
    """Holds the current catalog; ``check()`` reloads when any course.yaml or roster under
    ``root`` changed (added, removed, modified), logging each problem as an error with
    file:line, and returns True when it reloaded.

    Valid courses keep working when one breaks: a broken course is left out of the new
    catalog (its problems logged) and comes back when it is fixed. The constructor loads
    the catalog once and raises ``CatalogError`` if ``root`` is missing; later, a root
    that disappears is logged and the last catalog kept.
    """

    def __init__(self, root: Path, log: logging.Logger):
        self.root = Path(root)
        self.log = log
        self._catalog = load_catalog(self.root)
        self._fingerprint = self._fingerprint_of(self._catalog)
        self._log_problems(self._catalog)

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def check(self) -> bool:
        """Reload if any watched file changed; True when a new catalog was loaded."""
        if not self.root.is_dir():
            if self._fingerprint:
                self.log.error(
                    "Course catalog folder %s is gone; keeping the last catalog", self.root
                )
                self._fingerprint = {}
            return False
        before = self._fingerprint_of(self._catalog)
        if before == self._fingerprint:
            return False
        try:
            catalog = load_catalog(self.root)
        except CatalogError as exc:  # removed between the check above and the load
            self.log.error("%s; keeping the last catalog", exc)
            return False
        self._catalog = catalog
        # Watch the files the new catalog names (a roster may have been added or renamed),
        # with the stats taken before loading, so an edit made during the load is seen.
        after = self._fingerprint_of(catalog)
        self._fingerprint = {path: before.get(path, stat) for path, stat in after.items()}
        self._log_problems(catalog)
        return True

    def _fingerprint_of(self, catalog: Catalog) -> Fingerprint:
        paths = set(catalog.files)
        try:
            paths.update(self.root.glob(f"*/{COURSE_FILE}"))
            paths.update(self.root.glob("*/course.yml"))
        except OSError:
            pass
        fingerprint: Fingerprint = {}
        for path in paths:
            try:
                stat = path.stat()
            except OSError:
                fingerprint[path] = None
            else:
                fingerprint[path] = (stat.st_mtime_ns, stat.st_size)
        return fingerprint

    def _log_problems(self, catalog: Catalog) -> None:
        for problem in catalog.problems:
            self.log.error("Course catalog problem: %s", problem)
