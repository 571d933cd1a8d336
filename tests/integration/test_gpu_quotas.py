"""GPU quotas through the real hub, proxy, service and dev cluster (docs/gpu.md).

The catalog has one course per policy, so the tests do not disturb each other:
- ``cap-101``: at most 2 GPUs at once, five students (whole A100s);
- ``budget-101``: 0.1 GPU-hours (6 minutes) per student per week (MIG slices);
- ``idle-101``: GPU servers idle 30 minutes are stopped (MIG slices and a CPU environment);
- ``ledger-101``: a generous budget, for the crash-and-restart test;
- ``queue-101``: one GPU at once, and spawns past it wait in a queue instead of failing;
- ``session-101``: GPU sessions end after one hour.

The service's clock is moved forward through ``COURSEHUB_DEV_CLOCK_OFFSET_FILE`` and the
enforcer runs every second, so budgets and idle times pass in seconds.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from factories import A100, gpu_course_dict
from gpu_platform import MIG, gpu_platform, move_clock, sessions, wait_for
from hub_platform import HubAPI
from service_calls import ServiceCalls

from coursehub.dev import Platform

pytestmark = pytest.mark.integration


A100_GPU = {"count": 1, "product": A100}
CAP_STUDENTS = [f"cap{n}" for n in range(1, 6)]
QUEUE_STUDENTS = ["first", "second", "third"]


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("gpu-quotas")
    with gpu_platform(
        root,
        "test_gpu_quotas",
        artifacts_dir,
        gpu_course_dict("cap-101", CAP_STUDENTS, {"max_concurrent_gpus": 2}, A100_GPU),
        gpu_course_dict("budget-101", ["spender"], {"gpu_hours_per_student_per_week": 0.1}, MIG),
        gpu_course_dict("idle-101", ["idler", "reader"], {"gpu_idle_timeout_minutes": 30}, MIG),
        gpu_course_dict("ledger-101", ["survivor"], {"gpu_hours_per_student_per_week": 10}, MIG),
        gpu_course_dict(
            "queue-101", QUEUE_STUDENTS, {"max_concurrent_gpus": 1, "queue_when_full": True}, MIG
        ),
        gpu_course_dict("session-101", ["marathon"], {"max_session_hours": 1}, MIG),
    ) as running:
        yield running


def gpu_cli(platform: Platform, token: str, *args: str) -> subprocess.CompletedProcess:
    """``coursehub gpu ARGS`` as an admin runs it against the hub."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("COURSEHUB_")}
    env["COURSEHUB_TOKEN"] = token
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "coursehub",
            "gpu",
            args[0],
            "--hub-url",
            platform.public_url,
            *args[1:],
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def notices(service: ServiceCalls, token: str) -> list[dict]:
    """The GPU warnings the token's user sees (what JupyterLab shows)."""
    status, body = await service.call("GET", "gpu/notices", token)
    assert status == 200, body
    return body["notices"]


async def test_a_course_cap_of_two_admits_exactly_two_of_five_simultaneous_spawns(
    hub_api, service, platform
):
    tokens = [await hub_api.token_for(name) for name in CAP_STUDENTS]
    answers = await asyncio.gather(
        *(
            hub_api.spawn(name, "cap-101-gpu", token)
            for name, token in zip(CAP_STUDENTS, tokens, strict=True)
        )
    )
    assert all(status in (201, 202, 429) for status, _ in answers), answers
    # A 202 is only "not decided within the hub's slow-spawn timeout": each spawn ends ready
    # or gone, and exactly two end ready.
    outcomes = await asyncio.gather(*(hub_api.settle(name) for name in CAP_STUDENTS))
    admitted = [name for name, ready in zip(CAP_STUDENTS, outcomes, strict=True) if ready]
    assert len(admitted) == 2, (answers, outcomes)
    refused = [body for status, body in answers if status == 429]
    for body in refused:
        message = body["message"]
        assert "cap-101 allows 2 GPUs at once" in message
        assert '"CAP-101 · CPU"' in message  # the course's CPU environment is suggested
    open_sessions = [s for s in await sessions(service, platform, "cap-101") if not s["stopped_at"]]
    assert sorted(s["username"] for s in open_sessions) == sorted(admitted)
    assert all(s["started_at"] and s["gpus"] == 1 for s in open_sessions)

    # A refused student can start the CPU environment at once; the cap is about GPUs.
    loser = next(name for name in CAP_STUDENTS if name not in admitted)
    status, body = await hub_api.spawn(loser, "cap-101-cpu")
    assert status in (201, 202), body
    await hub_api.wait_ready(loser)
    assert await hub_api.stop(loser) in (202, 204)
    await hub_api.wait_stopped(loser)

    # When one GPU server stops, its place goes to the next student who asks.
    assert await hub_api.stop(admitted[0]) in (202, 204)
    await hub_api.wait_stopped(admitted[0])
    status, body = await hub_api.spawn(loser, "cap-101-gpu")
    assert status in (201, 202), body
    await hub_api.wait_ready(loser)
    closed = [s for s in await sessions(service, platform, "cap-101") if s["stopped_at"]]
    assert [(s["username"], s["stop_reason"]) for s in closed] == [(admitted[0], "stopped")]
    for name in (admitted[1], loser):
        assert await hub_api.stop(name) in (202, 204)
        await hub_api.wait_stopped(name)


async def test_the_ledger_is_written_only_by_the_hub(hub_api, service, platform):
    token = await hub_api.token_for("cap1")
    status, body = await service.call(
        "POST",
        "gpu/admissions",
        token,
        payload={"username": "cap1", "course": "cap-101", "environment": "gpu"},
    )
    assert status == 403 and "only the hub" in body["message"]
    status, body = await service.call(
        "POST", "gpu/sessions/stopped", token, payload={"username": "cap2"}
    )
    assert status == 403
    status, body = await service.call("GET", "gpu/sessions?course=cap-101", token)
    assert status == 403 and "not staff of cap-101" in body["message"]


async def test_a_spent_budget_warns_then_stops_the_server_and_refuses_the_next_spawn(
    hub_api, service, platform
):
    status, body = await hub_api.spawn("spender", "budget-101-gpu")
    assert status in (201, 202), body
    await hub_api.wait_ready("spender")
    token = await hub_api.token_for("spender")

    # 6 minutes of budget: less than 10 minutes left from the start, so a warning comes.
    (notice,) = await wait_for(lambda: notices(service, token), what="the budget warning")
    assert "Your GPU server stops in" in notice["message"]
    assert "0.1 GPU-hours for budget-101" in notice["message"]
    assert (await hub_api.user("spender"))["servers"][""]["ready"]

    move_clock(platform, 7 * 60)  # past the 6 minutes
    await hub_api.wait_stopped("spender", timeout=60)
    (session,) = await sessions(service, platform, "budget-101")
    assert session["stop_reason"] == "budget"
    assert session["gpu_hours"] >= 0.1

    status, body = await hub_api.spawn("spender", "budget-101-gpu")
    assert status == 403, body
    assert "You have used your 0.1 GPU-hours for budget-101 this week" in body["message"]
    assert "resets on Monday" in body["message"]
    status, body = await hub_api.spawn("spender", "budget-101-cpu")
    assert status in (201, 202), body
    await hub_api.wait_ready("spender")
    assert await hub_api.stop("spender") in (202, 204)
    await hub_api.wait_stopped("spender")

    # Only admins grant hours; an admin grants one more with the CLI: the GPU environment
    # starts again.
    status, body = await service.call(
        "POST",
        "gpu/grants",
        await hub_api.token_for("teacher-budget-101"),
        payload={"course": "budget-101", "username": "spender", "hours": 1},
    )
    assert status == 403 and "only admins grant GPU-hours" in body["message"]
    refused = await asyncio.to_thread(
        gpu_cli, platform, platform.admin_token, "grant", "budget-101", "spender", "-1"
    )
    assert refused.returncode == 1 and "HOURS must be more than 0" in refused.stderr
    granted = await asyncio.to_thread(
        gpu_cli,
        platform,
        platform.admin_token,
        "grant",
        "budget-101",
        "spender",
        "1",
        "--note",
        "project",
    )
    assert granted.returncode == 0, granted.stderr
    assert "spender has 1 more GPU-hours in budget-101 this week" in granted.stdout
    status, body = await hub_api.spawn("spender", "budget-101-gpu")
    assert status in (201, 202), body
    await hub_api.wait_ready("spender")
    assert await hub_api.stop("spender") in (202, 204)
    await hub_api.wait_stopped("spender")


async def test_gpu_idle_culling_stops_an_idle_gpu_server_and_leaves_an_idle_cpu_server(
    hub_api, service, platform
):
    for name, profile in (("idler", "idle-101-gpu"), ("reader", "idle-101-cpu")):
        status, body = await hub_api.spawn(name, profile)
        assert status in (201, 202), body
        await hub_api.wait_ready(name)

    move_clock(platform, 31 * 60)  # both servers now look idle for 31 minutes
    await hub_api.wait_stopped("idler", timeout=60)
    (session,) = await sessions(service, platform, "idle-101")
    assert session["username"] == "idler" and session["stop_reason"] == "idle"
    await asyncio.sleep(3)  # three more enforcement passes
    assert (await hub_api.user("reader"))["servers"][""]["ready"]
    assert await hub_api.stop("reader") in (202, 204)
    await hub_api.wait_stopped("reader")


async def test_the_ledger_survives_killing_the_hub_and_the_service_mid_session(
    hub_api, service, platform, cluster
):
    status, body = await hub_api.spawn("survivor", "ledger-101-gpu")
    assert status in (201, 202), body
    await hub_api.wait_ready("survivor")
    (before,) = await sessions(service, platform, "ledger-101")
    assert before["started_at"] and not before["stopped_at"]

    # SIGKILL: no stop hook runs, the managed service dies with the hub; the pod lives on.
    await asyncio.to_thread(platform.kill_hub)
    await asyncio.to_thread(platform.start_hub)
    assert (await hub_api.user("survivor"))["servers"][""]["ready"]
    await asyncio.sleep(3)  # enforcement passes of the new service against the new hub

    (after,) = await sessions(service, platform, "ledger-101")
    assert after["id"] == before["id"] and after["started_at"] == before["started_at"]
    assert after["stopped_at"] is None  # not lost, not closed as vanished, not doubled

    assert await hub_api.stop("survivor") in (202, 204)
    await hub_api.wait_stopped("survivor")
    (closed,) = await sessions(service, platform, "ledger-101")
    assert closed["id"] == before["id"] and closed["stop_reason"] == "stopped"
    started = datetime.fromisoformat(closed["started_at"])
    stopped = datetime.fromisoformat(closed["stopped_at"])
    hours = (stopped - started).total_seconds() / 3600
    assert closed["gpu_hours"] == pytest.approx(hours, abs=1e-4)  # rounded to 4 places
    assert await cluster.user_pods("survivor") == []
    listing = await asyncio.to_thread(
        gpu_cli, platform, platform.admin_token, "sessions", "--course", "ledger-101"
    )
    assert listing.returncode == 0, listing.stderr
    (line,) = [text for text in listing.stdout.splitlines() if "survivor" in text]
    assert "ledger-101" in line and "stopped" in line


async def queue_line(hub_api: HubAPI, name: str) -> str:
    """The first progress message of a queued spawn."""
    async for event in hub_api.progress(name, timeout=30):
        if "queue" in event.get("message", ""):
            return event["message"]
    raise AssertionError(f"{name}'s progress never mentioned the queue")


async def test_a_queueing_course_starts_waiting_spawns_in_order_as_gpus_free(
    hub_api, service, platform
):
    status, body = await hub_api.spawn("first", "queue-101-gpu")
    assert status in (201, 202), body
    await hub_api.wait_ready("first")
    for name in ("second", "third"):  # in this order
        status, body = await hub_api.spawn(name, "queue-101-gpu")
        assert status == 202, body  # pending: queued, not refused
        await asyncio.sleep(1)
    second, third = await asyncio.gather(
        queue_line(hub_api, "second"), queue_line(hub_api, "third")
    )
    assert "You are number 1 in the queue (you are next)" in second
    assert "You are number 2 in the queue (1 ahead of you)" in third
    assert "queue-101: the course allows 1 at once and all are in use" in second

    assert await hub_api.stop("first") in (202, 204)
    await hub_api.wait_ready("second", timeout=60)
    server = (await hub_api.user("third"))["servers"][""]
    assert server["pending"] == "spawn" and not server["ready"]
    assert "You are number 1 in the queue" in await queue_line(hub_api, "third")

    assert await hub_api.stop("second") in (202, 204)
    await hub_api.wait_ready("third", timeout=60)
    assert await hub_api.stop("third") in (202, 204)
    await hub_api.wait_stopped("third")
    order = [s["username"] for s in await sessions(service, platform, "queue-101")]
    assert order == ["first", "second", "third"]


async def test_a_long_session_is_warned_ten_minutes_before_its_limit_then_stopped(
    hub_api, service, platform
):
    status, body = await hub_api.spawn("marathon", "session-101-gpu")
    assert status in (201, 202), body
    await hub_api.wait_ready("marathon")
    token = await hub_api.token_for("marathon")
    await asyncio.sleep(3)  # enforcement passes: an hour is far off, nothing to say
    assert await notices(service, token) == []
    move_clock(platform, 55 * 60)
    (notice,) = await wait_for(lambda: notices(service, token), what="the session-limit warning")
    assert "Your GPU server stops in" in notice["message"]
    assert "session-101's 1-hour limit per GPU session" in notice["message"]
    assert (await hub_api.user("marathon"))["servers"][""]["ready"]

    move_clock(platform, 6 * 60)
    await hub_api.wait_stopped("marathon", timeout=60)
    (session,) = await sessions(service, platform, "session-101")
    assert session["stop_reason"] == "session_limit"
