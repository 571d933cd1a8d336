"""The unmodified nbgrader JupyterLab extension, clicked through in headless Chromium.

instructor1 releases ai-101's ps1 with the CLI; student2 signs in, starts the CPU
environment, opens Nbgrader → Assignment List, fetches ps1 and submits it; the panel shows
the submission with the time the service gave it, and the service has stored it. The
staff-only authoring panel is not there.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

from browser_signin import SPAWN_TIMEOUT_MS, sign_in
from playwright.async_api import Page, expect

from coursehub.dev import Platform


def release_ps1(platform: Platform) -> None:
    command = ["assignment", "release", "ai-101", "ps1", "--hub-url", platform.public_url]
    result = subprocess.run(
        [sys.executable, "-m", "coursehub", *command],
        env={**os.environ, "COURSEHUB_TOKEN": platform.admin_token},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def stored_versions(platform: Platform, student: str) -> list[int]:
    request = urllib.request.Request(
        f"{platform.service_url}/api/courses/ai-101/assignments/ps1/submissions?student={student}",
        headers={"Authorization": f"token {platform.admin_token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return [row["version"] for row in json.load(response)["submissions"]]


async def test_student_fetches_and_submits_in_the_assignments_panel(
    sample_platform: Platform, page: Page, artifacts_dir: Path
) -> None:
    release_ps1(sample_platform)
    await sign_in(page, sample_platform, "student2")
    await expect(page).to_have_url(re.compile(r"/hub/spawn"), timeout=30_000)
    await page.locator("input[name='profile'][value='ai-101-cpu']").check()
    await page.locator(
        "#spawn_form input[type='submit'], #spawn_form button[type='submit']"
    ).click()
    await expect(page).to_have_url(re.compile(r"/user/student2/lab"), timeout=SPAWN_TIMEOUT_MS)
    await page.locator(".jp-LauncherCard").first.wait_for(timeout=120_000)
    # Authoring tools are for staff: the student's JupyterLab has no Create Assignment panel.
    await expect(
        page.locator(".jp-SideBar .lm-TabBar-tabLabel", has_text="Create Assignment")
    ).to_have_count(0)

    await page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    await page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
    released = page.locator("#released_assignments_list")
    try:
        await expect(released).to_contain_text("ps1", timeout=60_000)
        await expect(released).to_contain_text("ai-101")
        await page.screenshot(path=artifacts_dir / "browser-assignments-1-released.png")

        await released.get_by_role("button", name="Fetch").click()
        fetched = page.locator("#fetched_assignments_list")
        await expect(fetched).to_contain_text("ps1", timeout=60_000)
        await fetched.get_by_role("button", name="Submit").click()
        submitted = page.locator("#submitted_assignments_list")
        await expect(submitted).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d"), timeout=60_000)
    finally:
        await page.screenshot(path=artifacts_dir / "browser-assignments-2-submitted.png")
    assert stored_versions(sample_platform, "student2") == [1]
