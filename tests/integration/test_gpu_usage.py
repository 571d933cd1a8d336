"""GPU usage reports through the real hub, proxy, service and dev cluster
(docs/gpu-usage.md): real GPU sessions, a refusal and a cull, then the API as an admin, as
a course's staff and as a student, and ``coursehub usage`` as a subprocess.

The catalog:
- ``usage-101``: at most 1 GPU at once; ``runner`` holds it, ``waiter`` is refused (cap);
- ``cull-201``: GPU servers idle 30 minutes are stopped; ``idler`` is culled.

The service's clock is moved 31 minutes forward (``COURSEHUB_DEV_CLOCK_OFFSET_FILE``), so
both sessions are charged a little more than 31 minutes, and ``idler``'s server is stopped
as idle by the enforcer (every second here).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factories import A100, gpu_course_dict
from gpu_platform import gpu_platform, move_clock
from hub_platform import HubAPI
from service_calls import ServiceCalls

from coursehub.dev import Platform
from coursehub.gpu.reports import CSV_HEADER

pytestmark = pytest.mark.integration

MOVED = 31 * 60  # seconds the service's clock jumps
# Each session is charged the jump plus the real seconds it ran (well under 5 minutes).
CHARGED = (MOVED / 3600, (MOVED + 300) / 3600)


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("gpu-usage")
    with gpu_platform(
        root,
        "test_gpu_usage",
        artifacts_dir,
        gpu_course_dict(
            "usage-101",
            ["runner", "waiter"],
            {"max_concurrent_gpus": 1},
            {"count": 1, "product": A100},
        ),
        gpu_course_dict(
            "cull-201",
            ["idler"],
            {"gpu_idle_timeout_minutes": 30},
            {"count": 1, "resource": "nvidia.com/mig-1g.10gb"},
        ),
    ) as running:
        yield running


async def stop_server(hub_api: HubAPI, name: str) -> None:
    status, _ = await hub_api.request(
        "DELETE", f"/users/{name}/server", hub_api.platform.admin_token
    )
    assert status in (202, 204), status
    await hub_api.wait_stopped(name)


# The window every check asks for: from yesterday (UTC), so a run across midnight or a
# Monday still sees today's sessions.
SINCE = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()


@pytest.fixture(scope="module")
async def activity(hub_api, platform) -> dict:
    """One GPU session in each course, a cap refusal, an idle cull; returns the students'
    and teachers' hub tokens."""
    for name, profile in (("runner", "usage-101-gpu"), ("idler", "cull-201-gpu")):
        status, body = await hub_api.spawn(name, profile)
        assert status in (201, 202), body
        await hub_api.wait_ready(name)
    status, body = await hub_api.spawn("waiter", "usage-101-gpu")
    assert status == 429 and "usage-101 allows 1 GPU at once" in body["message"], body
    move_clock(platform, MOVED)
    await hub_api.wait_stopped("idler", timeout=60)  # the enforcer's idle cull
    await stop_server(hub_api, "runner")
    names = ["runner", "waiter", "idler", "teacher-usage-101", "teacher-cull-201"]
    return {name: await hub_api.token_for(name) for name in names}


async def usage(service: ServiceCalls, token: str, **params) -> tuple[int, dict]:
    return await service.call("GET", "gpu/usage", token, params={"since": SINCE, **params})


def by_user(rows: list[dict]) -> dict[tuple[str, str], dict]:
    return {(row["course"], row["user"]): row for row in rows}


async def test_admins_see_hours_sessions_refusals_and_culls_of_every_course(
    activity, service, platform
):
    status, body = await usage(service, platform.admin_token)
    assert status == 200, body
    assert body["courses"] == ["cull-201", "usage-101"]
    rows = by_user(body["rows"])
    assert set(rows) == {
        ("usage-101", "runner"),
        ("usage-101", "waiter"),
        ("cull-201", "idler"),
    }
    runner, waiter, idler = (
        rows["usage-101", "runner"],
        rows["usage-101", "waiter"],
        rows["cull-201", "idler"],
    )
    assert CHARGED[0] <= runner["gpu_hours"] <= CHARGED[1], runner
    assert runner["sessions"] == 1 and runner["culls"]["idle"] == 0
    assert waiter == {
        "course": "usage-101",
        "user": "waiter",
        "gpu_hours": 0.0,
        "sessions": 0,
        "refusals": {"cap": 1, "budget": 0},
        "culls": {"budget": 0, "session_limit": 0, "idle": 0},
        "used_gpu_hours": 0.0,
    }
    assert CHARGED[0] <= idler["gpu_hours"] <= CHARGED[1], idler
    assert idler["sessions"] == 1 and idler["culls"]["idle"] == 1
    totals = {row["course"]: row for row in body["totals"]}
    assert totals["usage-101"]["refusals"]["cap"] == 1
    assert totals["usage-101"]["gpu_hours"] == runner["gpu_hours"]
    # Per day: what the sessions were charged, on the service's today.
    daily = body["daily"]
    today = datetime.fromisoformat(body["now"]).date().isoformat()
    assert daily["days"][0] == SINCE and today in daily["days"]
    for course, row in (("usage-101", runner), ("cull-201", idler)):
        assert sum(daily["gpu_hours"][course]) == pytest.approx(row["gpu_hours"], abs=1e-3)


async def test_staff_see_only_the_courses_they_teach(activity, service):
    teacher = activity["teacher-usage-101"]
    status, body = await usage(service, teacher)
    assert status == 200, body
    assert body["courses"] == ["usage-101"]
    assert {row["course"] for row in body["rows"]} == {"usage-101"}
    status, body = await usage(service, teacher, course="usage-101")
    assert status == 200 and {row["user"] for row in body["rows"]} == {"runner", "waiter"}
    status, body = await usage(service, teacher, course="cull-201")
    assert status == 403
    assert body["message"] == (
        "teacher-usage-101 is not staff of cull-201: the GPU usage of a course is for its "
        "staff and admins."
    )


async def test_students_are_refused_and_bad_dates_named(activity, service, platform):
    status, body = await usage(service, activity["runner"])
    assert status == 403
    assert "runner is neither an admin nor staff of a course" in body["message"]
    status, body = await usage(service, activity["runner"], course="usage-101")
    assert status == 403 and "runner is not staff of usage-101" in body["message"]
    status, body = await usage(service, platform.admin_token, since="01/02/2025")
    assert status == 400
    assert body["message"].startswith("'since' must be YYYY-MM-DD")
    status, body = await service.call("GET", "gpu/usage", None)
    assert status == 401


def run_cli(platform: Platform, token: str, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("COURSEHUB_")}
    env["COURSEHUB_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "coursehub", "usage", "--hub-url", platform.public_url, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


async def test_the_cli_prints_csv_and_writes_a_png_chart(activity, platform, tmp_path):
    chart = tmp_path / "usage.png"
    result = await asyncio.to_thread(
        run_cli,
        platform,
        activity["teacher-usage-101"],
        "--since",
        SINCE,
        "--format",
        "csv",
        "--plot",
        str(chart),
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == CSV_HEADER
    assert [(row["course"], row["user"]) for row in rows] == [
        ("usage-101", "runner"),
        ("usage-101", "waiter"),
    ]
    runner, waiter = rows
    assert CHARGED[0] <= float(runner["gpu_hours"]) <= CHARGED[1]
    assert runner["sessions"] == "1" and waiter["refusals_cap"] == "1"
    width, height = png_size(chart)
    assert width >= 500 and height >= 300
    assert chart.stat().st_size > 5000
    assert result.stderr.strip() == f"coursehub: wrote the chart to {chart}"

    # The table, as an admin: every course, aligned, with totals.
    result = await asyncio.to_thread(run_cli, platform, platform.admin_token, "--since", SINCE)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == [
        "course",
        "user",
        "GPU-hours",
        "used",
        "sessions",
        "refusals",
        "culls",
    ]
    assert any(line.split()[:2] == ["cull-201", "idler"] and "(idle 1)" in line for line in lines)
    grand = next(n for n, line in enumerate(lines) if line.startswith("(all courses)  (total)"))
    # Then held vs used: nobody's GPU did any work here, so both holders are named idle.
    assert lines[grand + 1 : grand + 3] == [
        "",
        "GPU-hours held vs used (used: the GPU busy, as its server reported)",
    ]
    holders = lines[lines.index("Biggest idle holders (held but not used):") + 1 :]
    assert {tuple(line.split()[:2]) for line in holders} == {
        ("usage-101", "runner"),
        ("cull-201", "idler"),
    }


async def test_cli_errors_are_one_line_and_a_non_zero_exit(activity, platform, tmp_path):
    cases = [
        (activity["waiter"], ["--since", SINCE], 1, "waiter is neither an admin nor staff"),
        (platform.admin_token, ["--since", "soon"], 1, "'since' must be YYYY-MM-DD"),
        (
            platform.admin_token,
            ["--plot", str(tmp_path / "no" / "chart.png")],
            1,
            "the folder",
        ),
    ]
    for token, args, code, words in cases:
        result = await asyncio.to_thread(run_cli, platform, token, *args)
        assert result.returncode == code, (args, result.stderr)
        assert result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert line.startswith("coursehub: ") and words in line, line
    # Nothing listens on port 9 of this machine.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSEHUB_")}
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "coursehub", "usage", "--hub-url", "http://127.0.0.1:9"],
        env={**env, "COURSEHUB_TOKEN": "x"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "cannot reach the coursehub service through http://127.0.0.1:9" in line
