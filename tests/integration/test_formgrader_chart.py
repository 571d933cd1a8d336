"""The formgrader the Helm chart runs is the one ``coursehub dev`` runs, and it answers to its
course's staff only, through the real hub and proxy.

What ``helm template`` renders for the coursehub service's pod is run here as local
processes: the ``prepare-workspaces`` init container's command lays out the courses'
folders, ai-101's formgrader container's command and environment (paths and in-cluster
addresses replaced by this machine's, its token from the chart's Secret) start
``grader-ai-101``, and the dev hub registers it from the chart's Secret
(``COURSEHUB_FORMGRADERS_DIR``), as the production hub does. Then:

- instructor1 (staff of ai-101) reaches it; instructor2 (staff of ml-201) and student1 get
  403, and so does a token without a user.
- ta1, added to ai-101's staff in its course file while the hub runs, reaches it at once
  after the coursehub service has put them in the course's staff group: the staff role is
  held by that group, so no hub restart is needed (the hub process is the same one). Taken
  off again, ta1 is refused once the formgrader's short cache of the hub's answer expires.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from chart_formgrader import LocalPod, registry_folder, render_service_pod
from factories import hub_courses, write_courses
from formgrader_calls import Formgrader
from hub_platform import HubAPI
from platforms import running_platform

from coursehub.dev import Platform
from coursehub.dev.processes import free_port, http_status
from coursehub.formgrader.config import HUB_AUTH_CACHE_SECONDS

pytestmark = pytest.mark.integration

COURSE = "ai-101"
IN_CLUSTER_SERVICE = "http://127.0.0.1:8090/services/coursehub"


@pytest.fixture(scope="module")
def rendered(repo_root: Path) -> tuple[dict, dict[str, str]]:
    return render_service_pod(repo_root / "helm" / "coursehub")


@pytest.fixture(scope="module")
def grader_port() -> int:
    return free_port("127.0.0.1")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("formgrader-chart")


@pytest.fixture(scope="module")
def courses(root: Path, repo_root: Path) -> Path:
    folder = write_courses(root / "courses", *hub_courses(students=2))
    shutil.copytree(repo_root / "courses/ai-101/source", folder / "ai-101/source")
    return folder


@pytest.fixture(scope="module")
def local_pod(rendered, root: Path, courses: Path, grader_port: int) -> LocalPod:
    pod, secret = rendered
    (container,) = [c for c in pod["containers"] if c["name"] == f"grader-{COURSE}"]
    in_cluster_port = container["ports"][0]["containerPort"]
    return LocalPod(
        pod,
        secret,
        paths={
            "/srv/coursehub": str(root / "state" / "service"),
            "/etc/coursehub/courses": str(courses),
            "/tmp/formgrader": str(root / "formgrader-tmp"),
        },
        urls={
            f"http://0.0.0.0:{in_cluster_port}": f"http://127.0.0.1:{grader_port}",
            f"http://coursehub-service:{in_cluster_port}": f"http://127.0.0.1:{grader_port}",
        },
    )


@pytest.fixture(scope="module")
def prepared(local_pod: LocalPod) -> Path:
    """The init container's command, before anything else runs: the courses' folders."""
    init = local_pod.container("prepare-workspaces", init=True)
    result = subprocess.run(
        local_pod.argv(init),
        env=local_pod.environment(init),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    workspace = Path(local_pod.paths["/srv/coursehub"]) / "workspaces" / COURSE
    assert (workspace / "nbgrader_config.py").is_file(), result.stdout
    return workspace


@pytest.fixture(scope="module")
def platform(
    root: Path, courses: Path, local_pod: LocalPod, prepared: Path, artifacts_dir: Path
) -> Iterator[Platform]:
    registry = registry_folder(local_pod.secret, root / "formgraders-secret", local_pod.urls)
    with running_platform(
        root,
        artifacts_dir,
        "platform-formgrader-chart",
        courses_dir=courses,
        extra_hub_env={"COURSEHUB_FORMGRADERS_DIR": str(registry)},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def formgrader(
    platform: Platform, local_pod: LocalPod, grader_port: int, root: Path, artifacts_dir: Path
) -> Iterator[subprocess.Popen]:
    container = local_pod.container(f"grader-{COURSE}")
    environment = local_pod.environment(container)
    # Beside the service in its pod: the service's API at its port on localhost.
    assert environment["COURSEHUB_SERVICE_URL"] == IN_CLUSTER_SERVICE
    environment["COURSEHUB_SERVICE_URL"] = platform.service_url
    environment["JUPYTERHUB_API_URL"] = f"{platform.hub_url}/hub/api"
    log = root / "grader-ai-101.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            local_pod.argv(container),
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # The container's readiness probe, at its local address.
        probe = container["readinessProbe"]["httpGet"]["path"]
        deadline = time.monotonic() + 120
        while http_status(f"http://127.0.0.1:{grader_port}{probe}") != 200:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # Beside the platform's logs (which keep_logs replaces when the platform stops).
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        (artifacts_dir / f"formgrader-chart-{log.name}").write_text(log.read_text())


@pytest.fixture(scope="module")
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as client:
        yield client


async def wait_for_user(hub: HubAPI, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (await hub.request("GET", f"/users/{name}", hub.platform.admin_token))[0] != 200:
        assert time.monotonic() < deadline, f"the service did not create {name} in the hub"
        await asyncio.sleep(0.5)


@pytest.fixture(scope="module")
async def tokens(platform: Platform, session) -> dict[str, str]:
    hub = HubAPI(platform, session)
    await wait_for_user(hub, "student1")
    names = ("instructor1", "instructor2", "student1")
    return {name: await hub.token_for(name) for name in names}


def page(session, platform: Platform, token: str) -> Formgrader:
    return Formgrader(session, platform, COURSE, token)


async def test_the_charts_command_is_the_one_dev_runs(local_pod: LocalPod, prepared: Path):
    container = local_pod.container(f"grader-{COURSE}")
    assert container["command"][:4] == ["coursehub", "formgrader", "serve", COURSE]
    assert local_pod.argv(container)[4] == f"--workspace={prepared}"


async def test_the_courses_staff_reach_the_formgrader_others_get_403(
    formgrader, platform: Platform, session, tokens
):
    status, _, text = await page(session, platform, tokens["instructor1"]).request(
        "GET", "/formgrader/api/assignments"
    )
    assert status == 200, text
    assert "ps1" in text  # ai-101's folder, which the init container's command laid out
    for outsider in ("instructor2", "student1"):
        status, _, text = await page(session, platform, tokens[outsider]).request(
            "GET", "/formgrader/api/assignments"
        )
        assert status == 403, (outsider, status, text[:300])


async def test_a_forged_token_gets_no_further(formgrader, platform: Platform, session):
    status, headers, _ = await page(session, platform, "forged-token-0123456789").request(
        "GET", "/formgrader/api/assignments"
    )
    # Not signed in: sent to the hub's OAuth, never served.
    assert status in (302, 403), status
    if status == 302:
        assert "/hub/api/oauth2/authorize" in headers["Location"]


async def test_staff_added_while_the_hub_runs_reach_it_without_a_restart(
    formgrader, platform: Platform, session, tokens, courses: Path
):
    hub = HubAPI(platform, session)
    hub_pid = platform.parts["hub"].process.pid
    ai101, ml201 = hub_courses(students=2)
    ai101["staff"]["tas"] = ["ta1"]
    write_courses(courses, ai101, ml201)
    await wait_for_user(hub, "ta1")
    group = "course-ai-101-staff"
    deadline = time.monotonic() + 60
    while True:
        status, model = await hub.request("GET", f"/groups/{group}", platform.admin_token)
        if status == 200 and "ta1" in model["users"]:
            break
        assert time.monotonic() < deadline, (status, model)
        await asyncio.sleep(0.5)
    token = await hub.token_for("ta1")
    status, _, text = await page(session, platform, token).request(
        "GET", "/formgrader/api/assignments"
    )
    assert status == 200, text
    # ml-201's staff did not gain ai-101's formgrader along the way.
    status, _, _ = await page(session, platform, tokens["instructor2"]).request(
        "GET", "/formgrader/api/assignments"
    )
    assert status == 403
    assert platform.parts["hub"].process.pid == hub_pid

    # Taken off the course file again: out of the staff group, and out of the formgrader
    # once its cache of the hub's answer (HUB_AUTH_CACHE_SECONDS) has expired.
    ai101["staff"]["tas"] = []
    write_courses(courses, ai101, ml201)
    deadline = time.monotonic() + 60 + HUB_AUTH_CACHE_SECONDS
    while True:
        status, _, _ = await page(session, platform, token).request(
            "GET", "/formgrader/api/assignments"
        )
        if status == 403:
            break
        assert status == 200 and time.monotonic() < deadline, status
        await asyncio.sleep(1)
    status, model = await hub.request("GET", f"/groups/{group}", platform.admin_token)
    assert "ta1" not in model["users"]
    assert platform.parts["hub"].process.pid == hub_pid
    platform.check_running()
