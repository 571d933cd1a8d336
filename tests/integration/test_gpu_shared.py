"""Shared GPUs through the real hub, proxy, service and dev cluster (docs/gpu.md, "Shared
GPUs"): the dev cluster's nodes advertise time-sliced GPUs as the NVIDIA device plugin does,
and caps, budgets, the ledger and the spawn page count GPU-equivalents.

The cluster (written by the ``platform`` fixture):
- ``t4-course``: 2 physical T4s, 2 replicas each: 4 ``nvidia.com/gpu.shared``;
- ``t4-lab``: 2 physical P4s, 4 replicas each: 8 ``nvidia.com/gpu.shared``, for plain pods.

``share-101`` has one environment on half a T4 (``share: 0.5``), a cap of 1 GPU (two halves)
and a budget of 1 GPU-hour per student per week (two hours on half a GPU).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from factories import CPU_IMAGE, GPU_IMAGE, course_dict, environment, small
from gpu_platform import CLOCK_VARIABLE, move_clock
from kubernetes_asyncio import client as k8s
from platforms import running_platform
from service_calls import ServiceCalls

from coursehub.dev import Platform

pytestmark = pytest.mark.integration

TAINT = "[{key: nvidia.com/gpu, value: present, effect: NoSchedule}]"
CLUSTER = f"""\
nodes:
  - name: cpu-node-1
    allocatable: {{cpu: 16, memory: 64Gi, pods: 110}}
  - name: t4-course
    labels: {{nvidia.com/gpu.product: Tesla-T4, nvidia.com/gpu.replicas: "2"}}
    taints: {TAINT}
    allocatable: {{cpu: 32, memory: 128Gi, pods: 110, nvidia.com/gpu.shared: 4}}
  - name: t4-lab
    labels: {{nvidia.com/gpu.product: Tesla-P4, nvidia.com/gpu.replicas: "4"}}
    taints: {TAINT}
    allocatable: {{cpu: 32, memory: 128Gi, pods: 110, nvidia.com/gpu.shared: 8}}
"""
STUDENTS = ["half1", "half2", "half3"]
HALF_T4 = {"count": 1, "resource": "nvidia.com/gpu.shared", "share": 0.5, "product": "Tesla-T4"}
COURSE = course_dict(
    "share-101",
    title="Shared GPUs",
    term="test",
    instructors=["teacher-share"],
    students=STUDENTS,
    environments=[
        environment(
            "half", "SHARE-101 · half a T4", GPU_IMAGE, **small(), gpu=HALF_T4, default=True
        ),
        environment("cpu", "SHARE-101 · CPU", CPU_IMAGE, **small()),
    ],
    gpu_policy={"max_concurrent_gpus": 1, "gpu_hours_per_student_per_week": 1},
)
TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("gpu-shared")
    (root / "cluster.yaml").write_text(CLUSTER)
    clock = root / "clock-offset"
    clock.write_text("0")
    with running_platform(
        root,
        artifacts_dir,
        "platform-test_gpu_shared",
        COURSE,
        cluster_config=root / "cluster.yaml",
        start_timeout=240,
        extra_hub_env={CLOCK_VARIABLE: str(clock), "COURSEHUB_GPU_ENFORCE_SECONDS": "1"},
    ) as running:
        yield running


async def wait_for(check, timeout: float = 60, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.5)


def gpu_sessions_cli(platform: Platform) -> subprocess.CompletedProcess:
    """``coursehub gpu sessions --course share-101`` as an admin runs it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("COURSEHUB_")}
    env["COURSEHUB_TOKEN"] = platform.admin_token
    argv = [sys.executable, "-m", "coursehub", "gpu", "sessions", "--hub-url"]
    return subprocess.run(
        [*argv, platform.public_url, "--course", "share-101"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def sessions(service: ServiceCalls, platform: Platform) -> list[dict]:
    status, body = await service.call("GET", "gpu/sessions?course=share-101", platform.admin_token)
    assert status == 200, body
    return body["sessions"]


def visible_devices_of(username: str) -> set[str]:
    """``NVIDIA_VISIBLE_DEVICES`` of the user's running server processes, read from /proc
    (the dev cluster runs pods as local processes)."""
    found = set()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError):
            variables = dict(
                item.split("=", 1)
                for item in environ.read_bytes().decode(errors="replace").split("\0")
                if "=" in item
            )
            if variables.get("JUPYTERHUB_USER") == username:
                found.add(variables.get("NVIDIA_VISIBLE_DEVICES", ""))
    return found


async def spawn_page(platform: Platform, username: str) -> str:
    """The hub's spawn page as the user sees it after signing in with their password."""
    # unsafe=True: keep cookies of a host given by IP address (the dev proxy's 127.0.0.1).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(f"{platform.public_url}/hub/login") as response:
            page = await response.text()
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
        form = {
            "username": username,
            "password": platform.passwords()[username],
            "_xsrf": xsrf,
        }
        async with session.post(f"{platform.public_url}/hub/login", data=form) as response:
            assert response.status == 200, response.status
        async with session.get(f"{platform.public_url}/hub/spawn") as response:
            assert (response.status, response.url.path) == (200, "/hub/spawn"), response.url
            return await response.text()


def availability_lines(html: str, profile: str) -> list[str]:
    block = re.search(
        rf"<ul class=\"availability\" data-profile=\"{profile}\">(.*?)</ul>", html, re.S
    )
    assert block, f"no availability list for {profile} in {html[:2000]}"
    return [
        re.sub(r"\s+", " ", text).strip()
        for text in re.findall(r"<li[^>]*>(.*?)</li>", block.group(1), re.S)
    ]


async def test_a_cap_of_one_gpu_admits_two_half_shares_on_one_gpu_and_charges_half_hours(
    hub_api, service, platform
):
    answers = await asyncio.gather(*(hub_api.spawn(name, "share-101-half") for name in STUDENTS))
    # A spawn the hub answers 202 (slow to start on a busy machine) may still be refused:
    # each ends ready or gone.
    outcomes = await asyncio.gather(*(hub_api.settle(name) for name in STUDENTS))
    admitted = [name for name, ready in zip(STUDENTS, outcomes, strict=True) if ready]
    assert len(admitted) == 2, (answers, outcomes)
    for status, body in answers:
        if status == 429:
            assert "share-101 allows 1 GPU at once" in body["message"]
            assert "1 is in use" in body["message"]

    # The ledger records each half share as 0.5 GPU-equivalents.
    opened = await sessions(service, platform)
    assert sorted(s["username"] for s in opened) == sorted(admitted)
    assert all((s["gpus"], s["gpu_equivalents"]) == (1, 0.5) for s in opened), opened

    # Both replicas are on physical GPU 0 of t4-course: the same device for both servers.
    assert [visible_devices_of(name) for name in admitted] == [{"GPU-t4-course-gpu-0"}] * 2

    # The third student's spawn page counts free shares and the course's GPU-equivalents.
    waiting = next(name for name in STUDENTS if name not in admitted)
    lines = availability_lines(await spawn_page(platform, waiting), "share-101-half")
    assert lines[:2] == [
        "Cluster: 2 of 4 T4 half-GPU shares free",
        "share-101: 0 of 1 GPUs free for the course (this takes 0.5)",
    ], lines
    assert lines[2].startswith("You: 1.0 of 1 GPU-hours left this week"), lines

    # An hour on half a GPU is half a GPU-hour: the 1 GPU-hour budget is not spent yet (it
    # would be on a whole GPU).
    move_clock(platform, 3600)
    await asyncio.sleep(3)  # a few enforcer passes
    hours = {s["username"]: s["gpu_hours"] for s in await sessions(service, platform)}
    assert all(0.5 <= hours[name] < 0.55 for name in admitted), hours
    for name in admitted:
        assert (await hub_api.user(name))["servers"][""]["ready"], name

    # Another hour spends it: both are stopped for their budget.
    move_clock(platform, 3600 + 60)
    for name in admitted:
        await hub_api.wait_stopped(name, timeout=90)
    closed = await sessions(service, platform)
    assert [s["stop_reason"] for s in closed] == ["budget", "budget"], closed
    assert all(1.0 <= s["gpu_hours"] < 1.1 for s in closed), closed

    # The usage report and `coursehub gpu sessions` count the same GPU-equivalents.
    status, report = await service.call("GET", "gpu/usage?course=share-101", platform.admin_token)
    assert status == 200, report
    rows = {row["user"]: row for row in report["rows"]}
    for name in admitted:
        assert 1.0 <= rows[name]["gpu_hours"] < 1.1, rows
        assert rows[name]["culls"]["budget"] == 1, rows
    assert rows[waiting]["refusals"]["cap"] == 1, rows
    listing = await asyncio.to_thread(gpu_sessions_cli, platform)
    assert listing.returncode == 0, listing.stderr
    lines = [line.split() for line in listing.stdout.splitlines()[1:] if line.strip()]
    assert sorted((cells[2], cells[4], cells[-2]) for cells in lines) == [
        (name, "0.5", "budget") for name in sorted(admitted)
    ], listing.stdout


async def test_the_dev_cluster_gives_replicas_of_one_physical_gpu_and_queues_past_them(platform):
    api = await _core(platform)
    core = k8s.CoreV1Api(api)
    script = (
        "import os, time; print(os.environ['NVIDIA_VISIBLE_DEVICES'], flush=True); time.sleep(600)"
    )

    def pod(name: str) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "restartPolicy": "Never",
                "nodeSelector": {"nvidia.com/gpu.product": "Tesla-P4"},
                "tolerations": [TOLERATION],
                "containers": [
                    {
                        "name": "main",
                        "image": "python:3.11",
                        "command": ["python", "-c", script],
                        "resources": {"limits": {"nvidia.com/gpu.shared": "1"}},
                    }
                ],
            },
        }

    async def device_of(name: str) -> str | None:
        try:
            log = await core.read_namespaced_pod_log(name, "default")
        except k8s.ApiException:
            return None
        return log.strip() or None

    names = [f"replica-{n}" for n in range(9)]
    try:
        for name in names:
            await core.create_namespaced_pod("default", pod(name))
        devices = {}
        for name in names[:8]:
            devices[name] = await wait_for(lambda n=name: device_of(n), what=f"{name}'s log")
        # 8 replicas of 2 physical P4s: each GPU is named by exactly 4 pods.
        by_gpu = sorted(list(devices.values()).count(d) for d in set(devices.values()))
        assert sorted(set(devices.values())) == ["GPU-t4-lab-gpu-0", "GPU-t4-lab-gpu-1"]
        assert by_gpu == [4, 4]

        async def last_pending_reason():
            events = await core.list_namespaced_event(
                "default", field_selector="involvedObject.name=replica-8"
            )
            messages = [e.message for e in events.items if e.reason == "FailedScheduling"]
            return messages[-1] if messages else None

        assert "Insufficient nvidia.com/gpu.shared" in await wait_for(
            last_pending_reason, what="replica-8's FailedScheduling event"
        )
        # A freed replica goes to the waiting pod, on the GPU the leaver shared.
        await core.delete_namespaced_pod("replica-0", "default", grace_period_seconds=0)
        freed = devices["replica-0"]
        assert await wait_for(lambda: device_of("replica-8"), what="replica-8's log") == freed
    finally:
        for name in names:
            with contextlib.suppress(k8s.ApiException):
                await core.delete_namespaced_pod(name, "default", grace_period_seconds=0)
        await api.close()


async def _core(platform: Platform) -> k8s.ApiClient:
    from kubernetes_asyncio import config

    configuration = k8s.Configuration()
    await config.load_kube_config(
        config_file=str(platform.kubeconfig), client_configuration=configuration
    )
    return k8s.ApiClient(configuration)
