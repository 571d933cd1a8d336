"""The spawn page shows live GPU availability, read in headless Chromium.

With the sample catalog (ai-101: at most 4 GPUs at once, 10 GPU-hours per student per week;
the dev cluster: 4 A100s) and student2 holding one A100, student1's spawn page says under
the GPU environment: 3 of 4 A100s free in the cluster, 3 of 4 places free in ai-101, and
10 of 10 hours left this week.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
from browser_signin import sign_in
from playwright.async_api import Page, expect

from coursehub.dev import Platform


async def hub(platform: Platform, method: str, path: str, body: dict | None = None):
    headers = {"Authorization": f"token {platform.admin_token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, f"{platform.public_url}/hub/api{path}", headers=headers, json=body
        ) as response,
    ):
        return response.status, await response.json(content_type=None)


async def wait_server(platform: Platform, name: str, ready: bool, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while True:
        _, user = await hub(platform, "GET", f"/users/{name}")
        server = (user.get("servers") or {}).get("")
        if bool(server and server.get("ready")) if ready else not server:
            return
        assert time.monotonic() < deadline, f"{name}'s server: {server}"
        await asyncio.sleep(0.5)


async def test_spawn_page_shows_free_gpus_course_places_and_hours_left(
    sample_platform: Platform, page: Page, artifacts_dir: Path
) -> None:
    status, body = await hub(
        sample_platform, "POST", "/users/student2/server", {"profile": "ai-101-gpu"}
    )
    assert status in (201, 202), body
    await wait_server(sample_platform, "student2", ready=True)
    try:
        await sign_in(page, sample_platform, "student1")
        gpu = page.locator("ul.availability[data-profile='ai-101-gpu']")
        await expect(gpu.locator("li[data-kind='cluster']")).to_have_text(
            "Cluster: 3 of 4 A100 GPUs free", timeout=30_000
        )
        await expect(gpu.locator("li[data-kind='course']")).to_have_text(
            "ai-101: 3 of 4 GPUs free for the course"
        )
        await expect(gpu.locator("li[data-kind='budget']")).to_contain_text(
            "You: 10.0 of 10 GPU-hours left this week (resets Monday"
        )
        # The CPU environment has no GPU numbers.
        assert await page.locator("ul.availability[data-profile='ai-101-cpu']").count() == 0
        await page.screenshot(path=artifacts_dir / "browser-gpu-availability.png", full_page=True)
    finally:
        status, _ = await hub(sample_platform, "DELETE", "/users/student2/server")
        assert status in (202, 204)
        await wait_server(sample_platform, "student2", ready=False)
