"""The GPU enforcer against a real hub, proxy, service and dev cluster: a session ends only
when its server is gone, and a GPU server running without a session is found (security
review §13, docs/gpu.md).

The hub is reached through ``HubRelay`` (``hub_relay.py``), which can fail one user's server
stops the way an unreachable hub would. Courses:
- ``stuck-101``: 0.1 GPU-hours per student per week (6 minutes);
- ``lost-101``: one GPU at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from factories import gpu_course_dict
from gpu_platform import MIG, gpu_platform, move_clock, sessions, wait_for
from hub_relay import HubRelay

from coursehub.dev import Platform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def relay() -> Iterator[HubRelay]:
    running = HubRelay()
    yield running
    running.close()


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir: Path, relay: HubRelay) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("gpu-enforcer")
    with gpu_platform(
        root,
        "test_gpu_enforcer",
        artifacts_dir,
        gpu_course_dict("stuck-101", ["stuck"], {"gpu_hours_per_student_per_week": 0.1}, MIG),
        gpu_course_dict("lost-101", ["lost", "late"], {"max_concurrent_gpus": 1}, MIG),
        hub_port=relay.target_port,
        extra_hub_env={"COURSEHUB_HUB_CONNECT_URL": relay.url},
    ) as running:
        yield running


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_stop_the_hub_fails_keeps_the_session_open_until_the_server_is_gone(
    hub_api, service, platform, relay
):
    status, body = await hub_api.spawn("stuck", "stuck-101-gpu")
    assert status in (201, 202), body
    await hub_api.wait_ready("stuck")
    relay.refuse_stops_of("stuck")

    move_clock(platform, 7 * 60)  # past the 6 minutes: the enforcer stops the server

    async def asked_twice() -> bool:
        return relay.refused("stuck") >= 2

    await wait_for(asked_twice, what="the enforcer to ask for the stop, fail, and ask again")
    # The server runs on, so its session is open: it holds its GPU and is charged.
    assert (await hub_api.user("stuck"))["servers"][""]["ready"]
    (session,) = await sessions(service, platform, "stuck-101")
    assert session["stopped_at"] is None and session["stop_reason"] == "budget"

    relay.allow_stops()  # the hub answers again: the next pass stops it
    await hub_api.wait_stopped("stuck", timeout=60)

    async def closed() -> dict | None:
        (row,) = await sessions(service, platform, "stuck-101")
        return row if row["stopped_at"] else None

    session = await wait_for(closed, what="the session to close")
    assert session["stop_reason"] == "budget"
    # Charged until the server really stopped, beyond the budget it ran over.
    assert session["gpu_hours"] > 7 / 60
    status, body = await hub_api.spawn("stuck", "stuck-101-gpu")
    assert status == 403 and "You have used your 0.1 GPU-hours" in body["message"]


async def test_a_gpu_server_whose_session_was_lost_is_counted_again(hub_api, service, platform):
    status, body = await hub_api.spawn("lost", "lost-101-gpu")
    assert status in (201, 202), body
    server = await hub_api.wait_ready("lost")
    (lost,) = await sessions(service, platform, "lost-101")

    # The ledger loses the session (a restored backup, a hand edit) while the server runs.
    database = platform.state_dir / "service" / "coursehub-service.sqlite"
    with sqlite3.connect(database, timeout=30) as connection:
        deleted = connection.execute("DELETE FROM gpu_sessions WHERE id = ?", (lost["id"],))
        assert deleted.rowcount == 1
    connection.close()

    async def counted_again() -> dict | None:
        rows = [s for s in await sessions(service, platform, "lost-101") if not s["stopped_at"]]
        return rows[0] if rows else None

    adopted = await wait_for(counted_again, what="the running server to get a session again")
    assert adopted["username"] == "lost" and adopted["gpus"] == 1
    started = parse(server["started"])
    assert abs((parse(adopted["started_at"]) - started).total_seconds()) < 1  # from its start

    # So the course's one GPU is taken again: another student's GPU spawn is refused.
    status, body = await hub_api.spawn("late", "lost-101-gpu")
    assert status == 429 and "lost-101 allows 1 GPU at once" in body["message"], body

    assert await hub_api.stop("lost") in (202, 204)
    await hub_api.wait_stopped("lost")
    (closed,) = await sessions(service, platform, "lost-101")
    assert closed["id"] == adopted["id"] and closed["stop_reason"] == "stopped"
