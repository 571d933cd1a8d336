"""coursehub's grading pods over a course folder, without a hub: a dev cluster in this
process, the service's grading batch endpoints (``api/grading_batches``, the only ones grading
pods reach) on a port of their own, and the service's ``GradingRun``, as the service runs it
for an autograde job."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from pathlib import Path
from types import SimpleNamespace

from course_folder import ASSIGNMENT, COURSE_ID, REPO_ROOT, db_url
from kubernetes_asyncio.client import NetworkingV1Api
from tornado.httpserver import HTTPServer
from tornado.web import Application

from coursehub.catalog import load_catalog
from coursehub.catalog.model import Assignment
from coursehub.dev.processes import free_port
from coursehub.devcluster.app import DevCluster
from coursehub.devcluster.config import load_cluster_config
from coursehub.grading.dispatch import Cluster, GradingRun, Progress
from coursehub.grading.nbgrader_steps import CourseFolder
from coursehub.grading.pods import grading_network_policy
from coursehub.grading.settings import GradingSettings
from coursehub.grading.transport import BatchTickets
from coursehub.service.api import grading_batches

SERVICE_HOST = "127.0.0.1"
SERVICE_PREFIX = "/services/coursehub/"


@dataclasses.dataclass
class BatchService:
    """The service's grading batch endpoints, served here: ``url`` as pods reach it."""

    url: str
    port: int
    tickets: BatchTickets


@contextlib.asynccontextmanager
async def batch_service(port: int | None = None):
    tickets = BatchTickets()
    # The handlers use the service context's batch tickets and nothing else of it.
    context = SimpleNamespace(grading_batches=tickets)
    app = Application(
        [
            (SERVICE_PREFIX + pattern, handler, {"context": context})
            for pattern, handler in grading_batches.default_handlers
        ]
    )
    port = port or free_port(SERVICE_HOST)
    server = HTTPServer(app, max_body_size=512 * 1024**2)
    server.listen(port, SERVICE_HOST)
    try:
        yield BatchService(f"http://{SERVICE_HOST}:{port}{SERVICE_PREFIX}", port, tickets)
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def dev_cluster(
    state_dir: Path,
    config_path: Path | None = None,
    network_policy=True,
    service_port: int | None = None,
):
    """A dev cluster in this process and the service's client of it, with the grading batch
    endpoints at ``client.batch_service``; with the grading pods' NetworkPolicy (egress to
    the service's port only) that the chart and ``coursehub dev`` create, unless told not."""
    cluster = DevCluster(state_dir, load_cluster_config(config_path))
    await cluster.start()
    client = await Cluster.connect(str(cluster.kubeconfig_path))
    try:
        async with batch_service(service_port) as service:
            client.batch_service = service
            if network_policy:
                labels = dict(GradingSettings().pod_labels)
                policy = grading_network_policy(
                    "coursehub-grading",
                    "default",
                    labels,
                    {"ipBlock": {"cidr": f"{SERVICE_HOST}/32"}},
                    service.port,
                )
                await NetworkingV1Api(client.api_client).create_namespaced_network_policy(
                    "default", policy
                )
            yield client
    finally:
        await client.close()
        await cluster.stop()


def course_assignment(**grading) -> tuple:
    course = load_catalog(REPO_ROOT / "courses").courses[COURSE_ID]
    assignment = course.assignment(ASSIGNMENT)
    if grading:
        assignment = assignment.model_copy(
            update={"grading": assignment.grading.model_copy(update=grading)}
        )
    return course, assignment


async def grade_with_pods(
    cluster: Cluster,
    root: Path,
    students: list[str],
    *,
    settings: GradingSettings | None = None,
    assignment: Assignment | None = None,
    course=None,
    reports: list | None = None,
) -> Progress:
    default_course, default_assignment = course_assignment()

    async def report(progress: Progress) -> None:
        if reports is not None:
            reports.append((progress.done, progress.failed, progress.running, progress.waiting))

    settings = settings or GradingSettings(masked_paths=(str(root),))
    service = cluster.batch_service
    if not settings.service_url:
        settings = dataclasses.replace(settings, service_url=service.url)
    run = GradingRun(
        cluster,
        settings,
        course or default_course,
        assignment or default_assignment,
        CourseFolder(root, COURSE_ID, db_url(root)),
        root / "grading-work",
        uuid.uuid4().hex,
        report,
        service.tickets,
    )
    return await run.run(students)
