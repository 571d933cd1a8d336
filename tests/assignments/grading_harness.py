"""coursehub's grading pods over a course folder, without a hub: a dev cluster in this
process and the service's ``GradingRun``, as the service runs it for an autograde job."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

from course_folder import ASSIGNMENT, COURSE_ID, REPO_ROOT, db_url
from kubernetes_asyncio.client import NetworkingV1Api

from coursehub.catalog import load_catalog
from coursehub.catalog.model import Assignment
from coursehub.devcluster.app import DevCluster
from coursehub.devcluster.config import load_cluster_config
from coursehub.grading.dispatch import Cluster, GradingRun, Progress
from coursehub.grading.nbgrader_steps import CourseFolder
from coursehub.grading.pods import grading_network_policy
from coursehub.grading.settings import GradingSettings


@contextlib.asynccontextmanager
async def dev_cluster(state_dir: Path, config_path: Path | None = None, network_policy=True):
    """A dev cluster in this process and the service's client of it; with the grading pods'
    NetworkPolicy (deny all) that the chart and ``coursehub dev`` create, unless told not."""
    cluster = DevCluster(state_dir, load_cluster_config(config_path))
    await cluster.start()
    client = await Cluster.connect(str(cluster.kubeconfig_path))
    try:
        if network_policy:
            labels = dict(GradingSettings().pod_labels)
            policy = grading_network_policy("coursehub-grading", "default", labels)
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

    run = GradingRun(
        cluster,
        settings or GradingSettings(masked_paths=(str(root),)),
        course or default_course,
        assignment or default_assignment,
        CourseFolder(root, COURSE_ID, db_url(root)),
        root / "grading-work",
        uuid.uuid4().hex,
        report,
    )
    return await run.run(students)
