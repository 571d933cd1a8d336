"""Reclaiming GPUs by real use, against a real hub, proxy, service and dev cluster: each GPU
server's notices extension reports its GPU telemetry (the dev kubelet's stand-in file in
place of NVML) with its own token, and the enforcer judges idleness from it, never from
browser activity (docs/gpu.md, "Reclaiming idle GPUs").

``reclaim-101``: GPU servers idle 20 minutes are stopped, with a warning 10 minutes before;
MIG slices and a CPU environment. The service's clock moves; servers report every second.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factories import gpu_course_dict
from gpu_platform import gpu_platform, move_clock
from gpu_telemetry_calls import (
    eventually,
    ledger_sessions,
    server_token,
    set_gpu_load,
    user_notices,
)

from coursehub.dev import Platform
from coursehub.gpu.reports import idle_holders, report_from_json, table_text

pytestmark = pytest.mark.integration

MIG = {"count": 1, "resource": "nvidia.com/mig-1g.10gb"}
COURSE = "reclaim-101"


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("gpu-telemetry")
    with gpu_platform(
        root,
        "test_gpu_telemetry",
        artifacts_dir,
        gpu_course_dict(
            COURSE, ["idler", "worker", "other"], {"gpu_idle_timeout_minutes": 20}, MIG
        ),
        extra_hub_env={"COURSEHUB_GPU_TELEMETRY_SECONDS": "1"},
    ) as running:
        yield running


def service_now(platform: Platform) -> datetime:
    offset = float(
        Path(platform.config.extra_hub_env["COURSEHUB_DEV_CLOCK_OFFSET_FILE"]).read_text()
    )
    return datetime.now(UTC) + timedelta(seconds=offset)


@contextlib.asynccontextmanager
async def browser_activity(hub_api, platform: Platform, username: str, token: str):
    """What an open tab (or a script faking one) does: post activity for the server to the
    hub every half second, stamped with the service's time. Yields the statuses of the
    posts so far (the server's token stops working when the server stops)."""
    statuses: list[int] = []

    async def post_forever():
        while True:
            stamp = service_now(platform).isoformat()
            status, _ = await hub_api.request(
                "POST",
                f"/users/{username}/activity",
                token,
                {"last_activity": stamp, "servers": {"": {"last_activity": stamp}}},
            )
            statuses.append(status)
            await asyncio.sleep(0.5)

    task = asyncio.ensure_future(post_forever())
    try:
        yield statuses
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def session_of(service, platform, username: str) -> dict:
    (row,) = [
        row
        for row in await ledger_sessions(service, platform, COURSE)
        if row["username"] == username and row["stopped_at"] is None
    ]
    return row


async def reported_since(service, platform, username: str, since: datetime) -> dict | None:
    row = await session_of(service, platform, username)
    at = row["last_telemetry_at"]
    return row if at and datetime.fromisoformat(at) >= since else None


async def test_an_idle_gpu_server_whose_browser_keeps_reporting_activity_is_warned_then_stopped(
    hub_api, service, platform, cluster
):
    status, body = await hub_api.spawn("idler", f"{COURSE}-gpu")
    assert status in (201, 202), body
    await hub_api.wait_ready("idler")
    token = await server_token(cluster, "idler")
    # Its files, to find again in the CPU environment after the reclaim.
    user_token = await hub_api.token_for("idler")
    async with hub_api.session.put(
        f"{platform.public_url}/user/idler/api/contents/keep.txt",
        headers={"Authorization": f"token {user_token}"},
        json={"type": "file", "format": "text", "content": "my work"},
    ) as response:
        assert response.status in (200, 201), await response.text()

    async with browser_activity(hub_api, platform, "idler", token) as faking:
        since = service_now(platform)
        await eventually(
            lambda: reported_since(service, platform, "idler", since),
            what="idler's server to report its GPU telemetry",
        )
        move_clock(platform, 11 * 60)  # idle 11 minutes: 9 before the stop

        async def warned():
            return [
                n for n in await user_notices(service, user_token) if "stops in" in n["message"]
            ]

        (notice,) = await eventually(warned, what="the idle warning")
        assert "has not used its GPU for 11 min" in notice["message"]
        assert "unless you run GPU work" in notice["message"]

        # The hub has fresh activity for the server all along: it is not what counts.
        async def fresh_activity() -> bool:
            server = (await hub_api.user("idler"))["servers"][""]
            activity = datetime.fromisoformat(server["last_activity"].replace("Z", "+00:00"))
            return service_now(platform) - activity < timedelta(minutes=1)

        await eventually(fresh_activity, timeout=20, what="the hub to hold fresh activity")
        assert faking and set(faking) == {200}  # every fake activity was taken

        move_clock(platform, 10 * 60)
        await hub_api.wait_stopped("idler", timeout=60)

    (row,) = [
        r for r in await ledger_sessions(service, platform, COURSE) if r["username"] == "idler"
    ]
    assert row["stop_reason"] == "idle"
    assert "without GPU work" in row["notice"] and "Your files are kept" in row["notice"]
    assert row["used_gpu_hours"] == 0 and row["gpu_hours"] >= 20 / 60

    # The CPU environment after the reclaim: the same home, the same files.
    status, body = await hub_api.spawn("idler", f"{COURSE}-cpu")
    assert status in (201, 202), body
    await hub_api.wait_ready("idler")
    async with hub_api.session.get(
        f"{platform.public_url}/user/idler/api/contents/keep.txt",
        headers={"Authorization": f"token {user_token}"},
    ) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["content"] == "my work"
    assert await hub_api.stop("idler") in (202, 204)
    await hub_api.wait_stopped("idler")


async def test_a_busy_gpu_server_is_kept_and_its_use_is_recorded_beside_the_hours_held(
    hub_api, service, platform, cluster
):
    status, body = await hub_api.spawn("worker", f"{COURSE}-gpu")
    assert status in (201, 202), body
    await hub_api.wait_ready("worker")
    await set_gpu_load(platform, cluster, "worker", 85)

    async def busy():
        row = await session_of(service, platform, "worker")
        return row if row["last_gpu_busy_at"] and row["used_gpu_hours"] > 0 else None

    await eventually(busy, what="worker's busy GPU to be recorded")
    # 25 minutes pass, past the idle timeout, while the GPU keeps working. The clock moves
    # in steps of 5 minutes with a report after each, as time passes for a real server (one
    # jump of 25 would let a pass judge before the next report).
    for _ in range(5):
        move_clock(platform, 5 * 60)
        moved = service_now(platform)
        row = await eventually(
            lambda moved=moved: reported_since(service, platform, "worker", moved),
            what="a report after the clock moved",
        )
    assert (await hub_api.user("worker"))["servers"][""]["ready"]
    assert row["stop_reason"] is None and row["notice"] is None
    assert datetime.fromisoformat(row["last_gpu_busy_at"]) >= moved
    assert row["gpu_utilization"] == 85 and row["gpu_memory_used_bytes"] > 0
    # Used while busy (each step's report charges its 5 minutes), never more than held.
    assert 20 / 60 <= row["used_gpu_hours"] <= row["gpu_hours"]

    # The student stops working: the same server is reclaimed 20 minutes later.
    await set_gpu_load(platform, cluster, "worker", 0)
    idle_since = service_now(platform)
    await eventually(
        lambda: reported_since(service, platform, "worker", idle_since + timedelta(seconds=2)),
        what="an idle report",
    )
    move_clock(platform, 21 * 60)
    await hub_api.wait_stopped("worker", timeout=60)
    (closed,) = [
        r for r in await ledger_sessions(service, platform, COURSE) if r["username"] == "worker"
    ]
    assert closed["stop_reason"] == "idle"
    assert closed["used_gpu_hours"] < closed["gpu_hours"]

    # The usage report: held vs used per student, and the idle holders named.
    status, body = await service.call(
        "GET", "gpu/usage", platform.admin_token, params={"course": COURSE}
    )
    assert status == 200, body
    report = report_from_json(body)
    rows = {row.user: row for row in report.rows}
    assert rows["worker"].used_gpu_hours == pytest.approx(closed["used_gpu_hours"], abs=1e-3)
    assert rows["idler"].used_gpu_hours == 0 and rows["idler"].gpu_hours > 0
    assert [row.user for row in idle_holders(report)] == sorted(
        ("idler", "worker"), key=lambda user: -rows[user].idle_gpu_hours
    )
    assert "Biggest idle holders (held but not used):" in table_text(report)


async def test_telemetry_for_someone_elses_server_is_refused(hub_api, service, platform, cluster):
    for name in ("worker", "other"):
        status, body = await hub_api.spawn(name, f"{COURSE}-gpu")
        assert status in (201, 202), body
    for name in ("worker", "other"):
        await hub_api.wait_ready(name)
    worker_server = await server_token(cluster, "worker")
    busy = {"gpu_utilization": 99, "kernel_busy": True}

    # The worker's server, for other's server: refused, and nothing recorded.
    status, body = await service.call(
        "POST", "gpu/telemetry", worker_server, payload={"username": "other", **busy}
    )
    assert status == 403, body
    assert "worker may not report GPU telemetry for other's default server" in body["message"]
    # The worker's default server's token, for a server of the worker's it is not.
    status, body = await service.call(
        "POST", "gpu/telemetry", worker_server, payload={"server_name": "gpu2", **busy}
    )
    assert status == 403 and "is not the token of worker's server 'gpu2'" in body["message"]
    # Another user's own token (the Token page), and an admin's: not the server's.
    other_user = await hub_api.token_for("other")
    status, body = await service.call(
        "POST", "gpu/telemetry", other_user, payload={"username": "worker", **busy}
    )
    assert status == 403, body
    status, body = await service.call(
        "POST", "gpu/telemetry", platform.admin_token, payload={"username": "other", **busy}
    )
    assert status == 403, body
    # A forged token is not a hub token at all.
    status, body = await service.call("POST", "gpu/telemetry", "forged" * 8, payload=busy)
    assert status in (401, 403), body
    # Bad fields are named.
    status, body = await service.call(
        "POST", "gpu/telemetry", worker_server, payload={"gpu_utilization": 150}
    )
    assert status == 400 and "'gpu_utilization' must be a percentage" in body["message"]

    row = await session_of(service, platform, "other")
    assert row["last_gpu_busy_at"] is None and row["used_gpu_hours"] == 0
    # Its own server's report is taken.
    other_server = await server_token(cluster, "other")
    status, body = await service.call("POST", "gpu/telemetry", other_server, payload=busy)
    assert status == 200 and body["busy"] is True and body["course"] == COURSE, body
    for name in ("worker", "other"):
        assert await hub_api.stop(name) in (202, 204)
        await hub_api.wait_stopped(name)
