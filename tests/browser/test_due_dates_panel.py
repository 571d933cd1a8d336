"""The "Due dates" panel in a student's JupyterLab, in headless Chromium set to New York time.

A platform serving a copy of the sample catalog with ai-101's ps1 due in three days at 17:30
UTC. The admin releases ps1; student2 signs in from a browser in America/New_York, starts
the CPU environment and opens the panel: ps1 is due at 12:30 PM EST (the browser's zone, the
panel says which), with days left, and not submitted. student2 fetches and submits ps1 in
nbgrader's Assignments tab; after Refresh the panel shows the receipt: version 1 at the
service's time, the checksum the service stored, on time. Staff then give student2 two more
hours: the panel shows 2:30 PM EST and that it is their extension of the course's 12:30 PM.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from platforms import running_platform
from playwright.async_api import Browser, expect

from coursehub.dev import Platform
from coursehub.exchange.client import ServiceClient

SPAWN_TIMEOUT_MS = 300_000
DUE = (datetime.now(UTC) + timedelta(days=3)).replace(hour=17, minute=30, second=0, microsecond=0)


@pytest.fixture(scope="module")
def due_platform(tmp_path_factory, repo_root: Path, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("due-dates")
    courses = root / "courses"
    shutil.copytree(repo_root / "courses", courses)
    course_file = courses / "ai-101" / "course.yaml"
    text, count = re.subn(r"due: \S+", f"due: {DUE.isoformat()}", course_file.read_text())
    assert count == 1, "ai-101's course.yaml should have one due date (ps1's)"
    course_file.write_text(text)
    with running_platform(
        root, artifacts_dir, "browser-due-dates-logs", courses_dir=courses
    ) as platform:
        yield platform


async def test_student_sees_due_date_in_own_time_zone_and_a_receipt(
    due_platform: Platform, browser: Browser, artifacts_dir: Path
) -> None:
    platform = due_platform
    staff = ServiceClient(platform.service_url, platform.admin_token)
    staff.json("POST", "courses/ai-101/assignments/ps1/actions/release")

    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="America/New_York", locale="en-US"
    )
    page = await context.new_page()
    await page.goto(f"{platform.public_url}/hub/login")
    await page.fill("#username_input", "student2")
    await page.fill("#password_input", platform.passwords()["student2"])
    await page.click("#login_submit")
    await expect(page).to_have_url(re.compile(r"/hub/spawn"), timeout=30_000)
    await page.locator("input[name='profile'][value='ai-101-cpu']").check()
    await page.locator(
        "#spawn_form input[type='submit'], #spawn_form button[type='submit']"
    ).click()
    await expect(page).to_have_url(re.compile(r"/user/student2/lab"), timeout=SPAWN_TIMEOUT_MS)
    await page.locator(".jp-LauncherCard").first.wait_for(timeout=120_000)

    await page.locator(".jp-SideBar .lm-TabBar-tab[data-id='coursehub-duedates']").click()
    panel = page.locator("#coursehub-duedates")
    await expect(panel).to_contain_text("Times in your time zone, America/New_York.")
    item = panel.locator("li[data-course='ai-101'][data-assignment='ps1']")
    await expect(item).to_contain_text("A tiny classifier from scratch", timeout=60_000)
    # 17:30 UTC is 12:30 PM in New York in winter (EST) and 1:30 PM in summer (EDT).
    local = DUE.astimezone(ZoneInfo("America/New_York"))
    hour = f"{local.hour % 12 or 12}:30"
    zone = local.tzname()
    due_line = item.locator(".coursehub-duedates-due")
    await expect(due_line).to_contain_text(f"{local:%b} {local.day}, {local.year}")
    await expect(due_line).to_contain_text(re.compile(rf"{hour}\s?PM {zone}"))
    await expect(item.locator(".coursehub-duedates-left")).to_have_text(
        re.compile(r"^(2|3) days?( \d+ hours?)? left$")
    )
    await expect(item.locator(".coursehub-duedates-receipt")).to_have_text("Not submitted yet")
    await page.screenshot(path=artifacts_dir / "browser-due-dates-1-released.png")

    # Submit through nbgrader's own Assignments tab.
    await page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    await page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
    released = page.locator("#released_assignments_list")
    await expect(released).to_contain_text("ps1", timeout=60_000)
    await released.get_by_role("button", name="Fetch").click()
    fetched = page.locator("#fetched_assignments_list")
    await expect(fetched).to_contain_text("ps1", timeout=60_000)
    await fetched.get_by_role("button", name="Submit").click()
    submitted = page.locator("#submitted_assignments_list")
    await expect(submitted).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d"), timeout=60_000)

    stored = staff.submissions("ai-101", "ps1", "student2")
    assert [row["version"] for row in stored] == [1]
    if not await panel.is_visible():  # a click on the open panel's tab would close it
        await page.locator(".jp-SideBar .lm-TabBar-tab[data-id='coursehub-duedates']").click()
    await panel.get_by_role("button", name="Refresh").click()
    receipt = item.locator(".coursehub-duedates-receipt")
    await expect(receipt).to_contain_text("Submitted version 1 at", timeout=30_000)
    submitted_at = datetime.fromisoformat(stored[0]["submitted_at"]).astimezone(local.tzinfo)
    await expect(receipt).to_contain_text(f"{submitted_at:%b} {submitted_at.day}")
    await expect(receipt.locator(".coursehub-duedates-ontime")).to_have_text("On time")
    checksum = receipt.locator(".coursehub-duedates-checksum")
    await expect(checksum).to_have_attribute("title", stored[0]["checksum"])
    await expect(checksum).to_contain_text(stored[0]["checksum"][:16])
    await page.screenshot(path=artifacts_dir / "browser-due-dates-2-receipt.png")

    # Staff give student2 two more hours: the panel shows the student's own due date and
    # says it is their extension.
    staff.json(
        "POST",
        "courses/ai-101/assignments/ps1/extensions",
        json={"student": "student2", "minutes": 120, "reason": "illness"},
    )
    await panel.get_by_role("button", name="Refresh").click()
    extended = (DUE + timedelta(hours=2)).astimezone(ZoneInfo("America/New_York"))
    await expect(due_line).to_contain_text(
        re.compile(rf"{extended.hour % 12 or 12}:30\s?PM {extended.tzname()}"), timeout=30_000
    )
    extension = item.locator(".coursehub-duedates-extension")
    await expect(extension).to_contain_text("Your extension: the course")
    await expect(extension).to_contain_text(re.compile(rf"{hour}\s?PM {zone}"))
    await page.screenshot(path=artifacts_dir / "browser-due-dates-3-extension.png")
    await context.close()
