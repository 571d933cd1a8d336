"""Reclaiming an idle GPU, seen by the student in JupyterLab in headless Chromium.

The GPU server's status bar shows its GPU use and hours left from the server's own
telemetry (the dev kubelet's stand-in file, which the test makes busy, then idle). Idle
for 11 minutes of the service's clock (moved through ``COURSEHUB_DEV_CLOCK_OFFSET_FILE``),
the student sees the warning that the server stops unless they run GPU work, although the
page stays open the whole time; 10 minutes later it is stopped as idle.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from ruamel.yaml import YAML

from coursehub.dev import Platform, PlatformConfig
from coursehub.devcluster.gpu_load import FILE_NAME, write_load

SPAWN_TIMEOUT_MS = 300_000
COURSE = {
    "id": "idle-101",
    "title": "A course that reclaims idle GPUs",
    "term": "test",
    "staff": {"instructors": ["teacher"]},
    "students": ["dozer"],
    "environments": [
        {
            "slug": "gpu",
            "display_name": "IDLE-101 · MIG slice",
            "image": "coursehub/notebook-gpu:test",
            "cpu": {"guarantee": "100m", "limit": 1},
            "memory": {"guarantee": "128Mi", "limit": "1Gi"},
            "gpu": {"count": 1, "resource": "nvidia.com/mig-1g.10gb"},
            "default": True,
        },
        {
            "slug": "cpu",
            "display_name": "IDLE-101 · CPU",
            "image": "coursehub/notebook-cpu:test",
            "cpu": {"guarantee": "100m", "limit": 1},
            "memory": {"guarantee": "128Mi", "limit": "1Gi"},
        },
    ],
    "gpu_policy": {"gpu_idle_timeout_minutes": 20, "gpu_hours_per_student_per_week": 5},
}


@pytest.fixture(scope="module")
def idle_platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("gpu-idle-warning")
    folder = root / "courses" / COURSE["id"]
    folder.mkdir(parents=True)
    YAML().dump(COURSE, folder / "course.yaml")
    clock = root / "clock-offset"
    clock.write_text("0")
    platform = Platform(
        PlatformConfig(
            state_dir=root / "state",
            courses_dir=root / "courses",
            port=0,
            extra_hub_env={
                "COURSEHUB_GPU_ENFORCE_SECONDS": "1",
                "COURSEHUB_GPU_TELEMETRY_SECONDS": "1",
                "COURSEHUB_DEV_CLOCK_OFFSET_FILE": str(clock),
            },
        )
    )
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()


def move_clock(platform: Platform, seconds: float) -> None:
    path = Path(platform.config.extra_hub_env["COURSEHUB_DEV_CLOCK_OFFSET_FILE"])
    partial = path.with_suffix(".partial")
    partial.write_text(str(float(path.read_text()) + seconds))
    partial.replace(path)


def telemetry_file(platform: Platform, username: str) -> Path:
    (path,) = (platform.state_dir / "devcluster" / "pods").glob(
        f"*/jupyter-{username}*/{FILE_NAME}"
    )
    return path


def session(platform: Platform, username: str) -> dict:
    request = urllib.request.Request(
        f"{platform.service_url}/api/gpu/sessions?course={COURSE['id']}",
        headers={"Authorization": f"token {platform.admin_token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        rows = json.load(response)["sessions"]
    return [row for row in rows if row["username"] == username][-1]


def server_running(platform: Platform, username: str) -> bool:
    request = urllib.request.Request(
        f"{platform.public_url}/hub/api/users/{username}",
        headers={"Authorization": f"token {platform.admin_token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return bool(json.load(response).get("servers"))


async def wait_for_report(platform: Platform, username: str, after: str | None) -> dict:
    deadline = time.monotonic() + 60
    while True:
        row = await asyncio.to_thread(session, platform, username)
        if row["last_telemetry_at"] and row["last_telemetry_at"] != after:
            return row
        assert time.monotonic() < deadline, f"{username}'s server sent no new GPU telemetry"
        await asyncio.sleep(0.5)


async def test_jupyterlab_shows_gpu_use_then_warns_and_the_idle_server_is_reclaimed(
    idle_platform: Platform, page: Page, artifacts_dir: Path
) -> None:
    await page.goto(f"{idle_platform.public_url}/hub/login")
    await page.fill("#username_input", "dozer")
    await page.fill("#password_input", idle_platform.passwords()["dozer"])
    await page.click("#login_submit")
    await expect(page).to_have_url(re.compile(r"/hub/spawn"), timeout=30_000)
    await page.locator("input[name='profile'][value='idle-101-gpu']").check()
    await page.locator(
        "#spawn_form input[type='submit'], #spawn_form button[type='submit']"
    ).click()
    await expect(page).to_have_url(re.compile(r"/user/dozer/lab"), timeout=SPAWN_TIMEOUT_MS)

    # The status bar: this server's GPU use and the week's hours left.
    status = page.locator(".coursehub-gpu-status")
    await expect(status).to_have_text(
        re.compile(r"^GPU 0 % · 0/16 GiB · [\d.]+ h left$"), timeout=60_000
    )
    write_load(telemetry_file(idle_platform, "dozer"), 85, memory_used_bytes=5 * 2**30)
    await expect(status).to_have_text(
        re.compile(r"^GPU 85 % · 5/16 GiB · (5|4\.\d) h left$"), timeout=30_000
    )
    await page.screenshot(path=artifacts_dir / "browser-gpu-status-busy.png", full_page=True)

    # The student stops using the GPU but leaves the tab open.
    write_load(telemetry_file(idle_platform, "dozer"), 0)
    busy = await asyncio.to_thread(session, idle_platform, "dozer")
    row = await wait_for_report(idle_platform, "dozer", busy["last_telemetry_at"])
    while row["gpu_utilization"] != 0:
        row = await wait_for_report(idle_platform, "dozer", row["last_telemetry_at"])
    await expect(status).to_contain_text("GPU 0 %", timeout=30_000)
    move_clock(idle_platform, 11 * 60)

    warning = page.get_by_text(re.compile(r"Your GPU server has not used its GPU for \d+ min"))
    await expect(warning.first).to_be_visible(timeout=90_000)
    await expect(warning.first).to_contain_text("unless you run GPU work")
    await page.wait_for_timeout(1000)  # the notification slides in: a whole screenshot
    await page.screenshot(path=artifacts_dir / "browser-gpu-idle-warning.png", full_page=True)
    assert await asyncio.to_thread(server_running, idle_platform, "dozer")

    move_clock(idle_platform, 10 * 60)
    deadline = time.monotonic() + 60
    while await asyncio.to_thread(server_running, idle_platform, "dozer"):
        assert time.monotonic() < deadline, "the idle GPU server was not stopped"
        await asyncio.sleep(0.5)
    stopped = await asyncio.to_thread(session, idle_platform, "dozer")
    assert stopped["stop_reason"] == "idle"
    assert 0 < stopped["used_gpu_hours"] < stopped["gpu_hours"]
