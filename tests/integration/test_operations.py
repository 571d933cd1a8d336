"""What an admin operates with, against a real platform (hub, proxy, service, dev cluster):
the service's Prometheus metrics and ``coursehub doctor``.

- Metrics: a scrape needs a hub token with ``read:metrics`` (none: 401; a student's or a
  token without the scope: 403); GPU admissions, refusals by reason, open sessions and
  the API's latency move with real spawns through the hub.
- Doctor: against the running platform a warning for the namespace's missing Pod Security
  label, then (labelled baseline, as docs/deploy.md step 9 says) all ✓ and exit 0; then a
  plain sentence and exit 1 for a wrong or a student's token, an unregistered service, a
  namespace enforcing restricted, a cluster without GPU nodes or a default storage class
  (a second dev cluster made so), and a service that does not answer (stopped with
  SIGSTOP, continued afterwards). The last test stops the service: keep it
  last.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest
from factories import A100, gpu_course_dict
from gpu_platform import gpu_platform
from hub_platform import HubAPI
from prometheus_client.parser import text_string_to_metric_families

from coursehub.dev import Platform

pytestmark = pytest.mark.integration

STUDENTS = ["ops1", "ops2"]
COURSE = "ops-101"
NO_GPU_CLUSTER = """\
nodes:
  - name: cpu-only-1
    allocatable: {cpu: 8, memory: 32Gi, pods: 110}
storage_classes:
  - {name: slow, provisioner: ebs.csi.aws.com}
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("operations")
    course = gpu_course_dict(
        COURSE, STUDENTS, {"max_concurrent_gpus": 1}, {"count": 1, "product": A100}
    )
    with gpu_platform(root, "test_operations", artifacts_dir, course) as running:
        yield running


def metrics_url(platform: Platform) -> str:
    return f"{platform.public_url}/services/coursehub/api/metrics"


async def scrape(session: aiohttp.ClientSession, platform: Platform, token: str | None):
    headers = {"Authorization": f"token {token}"} if token else {}
    async with session.get(metrics_url(platform), headers=headers) as response:
        return response.status, await response.text()


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels`` in a scrape (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


async def token_with(hub: HubAPI, platform: Platform, scopes: list[str]) -> str:
    """A token of the hub's ``admin`` user (dev's demo admin) with only ``scopes``, as an
    admin makes one for a Prometheus server."""
    status, model = await hub.request(
        "POST", "/users/admin/tokens", platform.admin_token, {"note": "ops", "scopes": scopes}
    )
    assert status == 201, (status, model)
    return model["token"]


async def test_a_scrape_needs_a_token_with_read_metrics(platform):
    async with aiohttp.ClientSession() as session:
        hub = HubAPI(platform, session)
        status, body = await scrape(session, platform, None)
        assert status == 401 and "read:metrics" in body
        student = await hub.token_for("ops1")
        status, body = await scrape(session, platform, student)
        assert status == 403, body
        assert "ops1 lacks the read:metrics scope" in body
        without = await token_with(hub, platform, ["access:services!service=coursehub"])
        status, body = await scrape(session, platform, without)
        assert status == 403 and "lacks the read:metrics scope" in body
        scraper = await token_with(hub, platform, ["read:metrics"])
        status, body = await scrape(session, platform, scraper)
        assert status == 200, body
        assert value(body, "coursehub_gpu_sessions_open", course=COURSE) == 0


async def test_admissions_refusals_and_open_sessions_move_with_real_spawns(platform):
    async with aiohttp.ClientSession() as session:
        hub = HubAPI(platform, session)
        scraper = await token_with(hub, platform, ["read:metrics"])
        _, before = await scrape(session, platform, scraper)

        first = await hub.token_for("ops1")
        status, body = await hub.spawn("ops1", f"{COURSE}-gpu", first)
        assert status in (201, 202), body
        assert await hub.settle("ops1"), "the first GPU spawn was not admitted"
        second = await hub.token_for("ops2")
        status, body = await hub.spawn("ops2", f"{COURSE}-gpu", second)
        assert status == 429, body  # the course's cap of one GPU is taken
        assert not await hub.settle("ops2")

        _, after = await scrape(session, platform, scraper)
        admissions = "coursehub_gpu_admissions_total"
        refusals = "coursehub_gpu_refusals_total"
        assert (
            value(after, admissions, course=COURSE) - value(before, admissions, course=COURSE) == 1
        )
        assert (
            value(after, refusals, course=COURSE, reason="cap")
            - value(before, refusals, course=COURSE, reason="cap")
            == 1
        )
        assert value(after, refusals, course=COURSE, reason="budget") == 0
        assert value(after, "coursehub_gpu_sessions_open", course=COURSE) == 1
        assert value(after, "coursehub_gpu_equivalents_held", course=COURSE) == 1
        # The hub's admission requests were timed, per handler and answer.
        timed = "coursehub_request_duration_seconds_count"
        assert value(after, timed, handler="AdmissionHandler", method="POST", code="200") >= 1
        assert value(after, timed, handler="AdmissionHandler", method="POST", code="429") >= 1

        assert await hub.stop("ops1") in (202, 204)
        await hub.wait_stopped("ops1")
        deadline = time.monotonic() + 30
        while True:  # the hub reports the stop to the ledger right after the server is gone
            _, later = await scrape(session, platform, scraper)
            if value(later, "coursehub_gpu_sessions_open", course=COURSE) == 0:
                break
            assert time.monotonic() < deadline, "the closed session is still counted"
            await asyncio.sleep(0.5)


def doctor(platform: Platform, *args: str, token: str | None = None, timeout: float = 90):
    """``coursehub doctor`` as an admin runs it from a laptop: the hub's public URL, a token
    in COURSEHUB_TOKEN, a kubeconfig."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("COURSEHUB_")}
    env.pop("KUBECONFIG", None)
    env["COURSEHUB_TOKEN"] = token or platform.admin_token
    argv = [sys.executable, "-m", "coursehub", "doctor", "--hub-url", platform.public_url]
    if "--kubeconfig" not in args:
        argv += ["--kubeconfig", str(platform.kubeconfig)]
    return subprocess.run(
        [*argv, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd="/"
    )


def lines_marked(output: str, mark: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(mark)]


KUBECTL = Path(sys.executable).parent / "kubectl"


def label_namespace(platform: Platform, level: str) -> None:
    """What docs/deploy.md step 9 has the admin do to the release namespace."""
    subprocess.run(
        [
            *(str(KUBECTL), "--kubeconfig", str(platform.kubeconfig)),
            *("label", "namespace", "default", "--overwrite"),
            f"pod-security.kubernetes.io/enforce={level}",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )


def test_doctor_finds_nothing_wrong_with_a_running_platform(platform):
    result = doctor(platform)
    assert result.returncode == 0, result.stdout + result.stderr
    # The dev cluster's namespace has no Pod Security label: a warning, not a failure.
    (warning,) = lines_marked(result.stdout, "!")
    assert warning.startswith("! pod security: namespace default has no Pod Security label")
    assert "No problem found; 1 warning(s)" in result.stdout

    label_namespace(platform, "baseline")
    result = doctor(platform)
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines_marked(result.stdout, "✗") == []
    out = result.stdout
    assert f"✓ hub: {platform.public_url} answers: JupyterHub " in out
    assert "✓ token: belongs to service coursehub-dev-admin, a hub admin" in out
    assert "✓ service: coursehub is registered with the hub and answers healthy" in out
    assert f"✓ catalog: 1 valid course(s): {COURSE}" in out
    assert "✓ GPU nodes: 3 node(s) advertise GPUs" in out
    assert "mig-a100-1: 7 x nvidia.com/mig-1g.10gb" in out
    assert "✓ storage: default StorageClass standard (coursehub.dev/folder)" in out
    assert "✓ pod security: namespace default enforces baseline" in out
    assert lines_marked(out, "!") == []
    assert out.rstrip().endswith("Everything checked is fine.")


def test_doctor_says_a_restricted_namespace_would_refuse_grading_pods(platform):
    label_namespace(platform, "restricted")
    try:
        result = doctor(platform)
    finally:
        label_namespace(platform, "baseline")
    assert result.returncode == 1
    (problem,) = lines_marked(result.stdout, "✗")
    assert problem.startswith(
        "✗ pod security: namespace default enforces restricted, which refuses every grading pod"
    )


def test_doctor_says_the_token_is_refused(platform):
    result = doctor(platform, token="not-a-token-of-this-hub")
    assert result.returncode == 1
    (problem,) = lines_marked(result.stdout, "✗")
    assert problem.startswith("✗ token: the hub refuses the token (HTTP 403)")
    assert "COURSEHUB_TOKEN" in problem


def test_doctor_says_a_token_of_a_student_is_not_an_admins(platform):
    async def student_token() -> str:
        async with aiohttp.ClientSession() as session:
            return await HubAPI(platform, session).token_for("ops2")

    result = doctor(platform, token=asyncio.run(student_token()))
    assert result.returncode == 1
    assert "✗ token: the token belongs to ops2, who is not a hub admin" in result.stdout


def test_doctor_says_the_service_is_not_registered(platform):
    result = doctor(platform, "--service-name", "exchange")
    assert result.returncode == 1
    (problem,) = lines_marked(result.stdout, "✗")
    assert problem.startswith("✗ service: the hub has no service named exchange (it has: ")
    assert "coursehub" in problem and "jupyterhub.hub.services.exchange" in problem


def test_doctor_says_there_is_no_gpu_node_and_no_default_storage_class(platform, tmp_path):
    config = tmp_path / "cpu-only.yaml"
    config.write_text(NO_GPU_CLUSTER)
    state = tmp_path / "cluster"
    log = open(tmp_path / "cluster.log", "wb")  # noqa: SIM115
    cluster = subprocess.Popen(
        [
            *(sys.executable, "-m", "coursehub", "devcluster", "up"),
            *("--state-dir", str(state), "--config", str(config)),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not (state / "kubeconfig").exists():
            assert cluster.poll() is None, (tmp_path / "cluster.log").read_text()
            assert time.monotonic() < deadline, "the second dev cluster did not start"
            time.sleep(0.1)
        result = doctor(platform, "--kubeconfig", str(state / "kubeconfig"))
    finally:
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(15)
        except subprocess.TimeoutExpired:
            cluster.kill()
            cluster.wait()
        log.close()
    assert result.returncode == 1
    problems = lines_marked(result.stdout, "✗")
    assert len(problems) == 2, result.stdout  # the second cluster's namespace: a warning
    assert problems[0].startswith(
        "✗ GPU nodes: none of the 1 node(s) advertises a GPU (nvidia.com/gpu, "
    )
    assert "install the NVIDIA GPU operator or device plugin" in problems[0]
    assert problems[1].startswith(
        "✗ storage: no StorageClass is the cluster's default (it has slow)"
    )
    assert result.stdout.rstrip().endswith("2 problem(s) found.")


@contextlib.contextmanager
def service_stopped(platform: Platform) -> Iterator[int]:
    """The coursehub service process the hub manages, stopped (SIGSTOP) until the end."""
    hub = psutil.Process(platform.parts["hub"].pid)
    (service,) = [
        child
        for child in hub.children(recursive=True)
        if child.cmdline()[-3:] == ["-m", "coursehub", "service"]
    ]
    service.send_signal(signal.SIGSTOP)
    try:
        yield service.pid
    finally:
        service.send_signal(signal.SIGCONT)


def test_doctor_says_the_service_does_not_answer(platform):
    with service_stopped(platform):
        result = doctor(platform, "--timeout", "3")
    assert result.returncode == 1
    (problem,) = lines_marked(result.stdout, "✗")
    assert problem.startswith("✗ service: the coursehub service is registered but not healthy")
    assert "nothing answered (no answer within 3 s)" in problem
    assert "- catalog: not checked: coursehub does not answer" in result.stdout
