"""Helpers for GPU telemetry tests against a real platform:

- ``ledger_sessions(service, platform, course)``: the course's GPU sessions (admin's view).
- ``user_notices(service, token)``: the GPU warnings the token's user sees.
- ``eventually(check, timeout, what)``: poll an async check until it returns something true.
- ``server_token(cluster, username)``: the API token the hub gave the user's running server
  (``JUPYTERHUB_API_TOKEN`` in its pod), as the notices extension uses it.
- ``set_gpu_load(platform, cluster, username, utilization)``: what the server's GPUs report
  from now on, through the dev cluster's stand-in telemetry file.
"""

from __future__ import annotations

import asyncio
import time

from hub_platform import Cluster
from service_calls import ServiceCalls

from coursehub.dev import Platform
from coursehub.devcluster.gpu_load import telemetry_path, write_load


async def ledger_sessions(service: ServiceCalls, platform: Platform, course: str) -> list[dict]:
    status, body = await service.call("GET", f"gpu/sessions?course={course}", platform.admin_token)
    assert status == 200, body
    return body["sessions"]


async def user_notices(service: ServiceCalls, token: str) -> list[dict]:
    status, body = await service.call("GET", "gpu/notices", token)
    assert status == 200, body
    return body["notices"]


async def eventually(check, timeout: float = 60, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.5)


async def user_pod(cluster: Cluster, username: str) -> dict:
    pods = [
        pod
        for pod in await cluster.user_pods(username)
        if not pod["metadata"].get("deletionTimestamp")
    ]
    assert len(pods) == 1, [pod["metadata"]["name"] for pod in pods]
    return pods[0]


async def server_token(cluster: Cluster, username: str) -> str:
    pod = await user_pod(cluster, username)
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "notebook"]
    env = {variable["name"]: variable.get("value") for variable in container.get("env") or []}
    assert env.get("JUPYTERHUB_API_TOKEN"), f"{username}'s pod has no JUPYTERHUB_API_TOKEN"
    return env["JUPYTERHUB_API_TOKEN"]


async def set_gpu_load(
    platform: Platform, cluster: Cluster, username: str, utilization: float
) -> None:
    pod = await user_pod(cluster, username)
    metadata = pod["metadata"]
    path = telemetry_path(platform.state_dir, metadata["namespace"], metadata["name"])
    assert path.exists(), f"the dev kubelet gave {metadata['name']} no GPU telemetry file"
    write_load(path, utilization, memory_used_bytes=int(utilization / 100 * (8 << 30)))
