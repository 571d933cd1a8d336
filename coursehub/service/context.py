"""Everything a request handler needs, built once at start: settings, database, blob store,
catalog, course workspaces, the background jobs and the clock.

``catalog`` is the *effective* catalog: the course files with the membership overlay of
the service's own database applied (imported rosters, sign-in memberships), kept current
by ``catalog_sync``; ``hub_sync`` (None without a hub API) keeps the hub's course groups
and dropped members' servers in step with it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime

from coursehub.catalog import Catalog
from coursehub.catalog.model import Course
from coursehub.catalog.sync import CatalogSync
from coursehub.grading.settings import GradingSettings
from coursehub.grading.transport import BatchTickets
from coursehub.service.clock import make_clock
from coursehub.service.db import Database
from coursehub.service.hub_client import HubError, HubREST
from coursehub.service.hub_sync import HubSync
from coursehub.service.lms_settings import LMSSettings
from coursehub.service.memberships import database_overlay_source
from coursehub.service.metrics import ServiceMetrics
from coursehub.service.models import utcnow
from coursehub.service.rules import Refusal
from coursehub.service.settings import ServiceSettings
from coursehub.service.store import BlobStore
from coursehub.service.uploads import UploadChecks
from coursehub.service.workspace import Workspace

log = logging.getLogger("coursehub.service")


@dataclass
class BackgroundJobs:
    """Work a request starts and does not wait for (grading runs): each task is kept
    referenced until it ends (the event loop holds only weak references), and one lock per
    course lets one grading run at a time use the course's folder and gradebook."""

    running: set[asyncio.Task] = field(default_factory=set)
    course_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def start(self, work: Coroutine) -> None:
        task = asyncio.create_task(work)
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    def course_lock(self, course_id: str) -> asyncio.Lock:
        return self.course_locks.setdefault(course_id, asyncio.Lock())


@dataclass
class ServiceContext:
    settings: ServiceSettings
    db: Database
    store: BlobStore
    catalog_sync: CatalogSync
    grading: GradingSettings = field(default_factory=GradingSettings)
    # The batches grading pods may fetch and post now (only their tokens' hashes).
    grading_batches: BatchTickets = field(default_factory=BatchTickets)
    now: Callable[[], datetime] = utcnow
    hub_sync: HubSync | None = None
    _workspaces: dict[str, Workspace] = field(default_factory=dict)
    # Courses whose GPU admission lock row is known to exist (rows are never deleted).
    gpu_lock_rows: set[str] = field(default_factory=set)
    # Uploaded archives are checked in threads of their own, one upload per user at a time.
    upload_checks: UploadChecks = field(default_factory=UploadChecks)
    jobs: BackgroundJobs = field(default_factory=BackgroundJobs)
    # Prometheus metrics of this service (a registry of its own, ``api/metrics``).
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    # Grade passback (``lms_grades``): off unless the tool's key and token URL are set.
    lms: LMSSettings = field(default_factory=LMSSettings)
    _cluster: object | None = None

    @classmethod
    def create(cls, settings: ServiceSettings) -> ServiceContext:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.db_url)
        db.upgrade()
        catalog_sync = CatalogSync(
            settings.courses_dir,
            log,
            settings.catalog_poll_seconds,
            overlay_source=database_overlay_source(db),
            overlay_origin="the service database",
        )
        hub_sync = None
        if settings.hub_api_url and settings.hub_api_token:
            hub = HubREST(settings.hub_api_url, settings.hub_api_token)
            hub_sync = HubSync(catalog_sync, hub, log, settings.group_sync_seconds)
        return cls(
            settings=settings,
            db=db,
            store=BlobStore(settings.data_dir / "store"),
            catalog_sync=catalog_sync,
            grading=GradingSettings.from_environ(),
            lms=LMSSettings.from_environ(),
            now=make_clock(settings.clock_offset_file),
            hub_sync=hub_sync,
        )

    async def cluster(self):
        """The Kubernetes API for grading pods, connected on first use."""
        if self._cluster is None:
            from coursehub.grading.dispatch import Cluster

            self._cluster = await Cluster.connect()
        return self._cluster

    @property
    def catalog(self) -> Catalog:
        return self.catalog_sync.current()

    def workspace(self, course: Course) -> Workspace:
        """The course's nbgrader folder, prepared on first use."""
        workspace = self._workspaces.get(course.id)
        if workspace is None:
            workspace = Workspace(self.settings.data_dir, course.id, self.settings.db_url)
            workspace.prepare(self.settings.courses_dir / course.id / "source")
            self._workspaces[course.id] = workspace
        return workspace

    async def hub_admins(self) -> set[str]:
        """The hub's admins now, or a 503 ``Refusal`` when the hub cannot be asked (then
        nothing that depends on it may be applied)."""
        if self.hub_sync is None:
            raise Refusal(
                503,
                "the service has no hub API token, so it cannot tell who is a hub admin; "
                "nothing was applied",
            )
        try:
            return await self.hub_sync.hub.admin_names()
        except HubError as error:
            raise Refusal(
                503, f"cannot ask the hub who is an admin ({error}); nothing was applied"
            ) from None

    def due(self, course: Course, assignment: str) -> datetime | None:
        spec = course.assignment(assignment)
        return spec.due if spec is not None else None

    def title(self, course: Course, assignment: str) -> str | None:
        spec = course.assignment(assignment)
        return spec.title if spec is not None else None
