"""A course's formgrader clicked through in headless Chromium, against the sample catalog.

student1's ps1 submission, graded by grading pods, carries script: in a markdown cell of
their own, in HTML, JavaScript and markdown outputs, and in a submitted ``notes.html``.
instructor1 signs in, opens Services → grader-ai-101 (ai-101's formgrader; no other course's
is listed), clicks Autograde on student1's row and reads how to autograde instead; opens
student1's submission, where none of the student's script runs, and grades a cell by hand;
opens the submitted HTML file, whose script does not run either. student1 sees no
formgrader in the menu. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from browser_signin import sign_in
from playwright.async_api import Browser, Page, expect

from coursehub.dev import Platform

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
from formgrader_calls import XSS_GLOBAL, Formgrader, grade_hostile_submission
from hub_platform import HubAPI
from service_calls import ServiceCalls

HOW_TO_AUTOGRADE = "coursehub assignment autograde ai-101 ps1 --student student1"


@pytest.fixture(scope="module")
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as client:
        yield client


@pytest.fixture(scope="module")
async def staff_api(sample_platform: Platform, session, tmp_path_factory) -> Formgrader:
    """instructor1's formgrader API, once student1's hostile submission is graded."""
    hub = HubAPI(sample_platform, session)
    deadline = time.monotonic() + 60
    while (await hub.request("GET", "/users/student1", sample_platform.admin_token))[0] != 200:
        assert time.monotonic() < deadline, "the service did not create the course's users"
        await asyncio.sleep(0.5)
    tokens = {name: await hub.token_for(name) for name in ("instructor1", "student1")}
    probe = tmp_path_factory.mktemp("probe") / "ran"
    await grade_hostile_submission(
        ServiceCalls(session, sample_platform.service_url), tokens, probe
    )
    return Formgrader(session, sample_platform, "ai-101", tokens["instructor1"])


async def signed_in(browser: Browser, platform: Platform, name: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await sign_in(page, platform, name)
    await expect(page).to_have_url(re.compile(r"/hub/(spawn|home)"), timeout=30_000)
    await page.goto(f"{platform.public_url}/hub/home")
    return page


async def no_student_script_ran(page: Page) -> None:
    await page.wait_for_load_state("networkidle")
    assert await page.evaluate(f"typeof window.{XSS_GLOBAL}") == "undefined", await page.evaluate(
        f"window.{XSS_GLOBAL}"
    )


async def test_staff_grade_in_the_formgrader_and_no_student_script_runs(
    sample_platform: Platform, browser: Browser, staff_api: Formgrader, artifacts_dir: Path
) -> None:
    base = f"{sample_platform.public_url}/services/grader-ai-101"
    staff = await signed_in(browser, sample_platform, "instructor1")
    await staff.locator("a.dropdown-toggle", has_text="Services").click()
    menu = staff.locator(".dropdown-menu a.dropdown-item")
    await expect(menu.filter(has_text="grader-ml-201")).to_have_count(0)
    await menu.filter(has_text="grader-ai-101").click()
    await expect(staff).to_have_url(
        re.compile(r"/services/grader-ai-101/formgrader"), timeout=30_000
    )
    await expect(staff.get_by_text("Manage Assignments").first).to_be_visible()

    # Autograde on student1's row: the dialog says how to autograde, and nothing changes.
    await staff.goto(f"{base}/formgrader/manage_submissions/ps1")
    row = staff.locator("tr", has=staff.locator("td", has_text=re.compile(r"^student1$")))
    await expect(row.locator(".score")).to_contain_text(" / 10")
    graded_score = await row.locator(".score").inner_text()
    await row.locator(".autograde a").click()
    dialog = staff.locator("#error-modal")
    await expect(dialog).to_be_visible(timeout=30_000)
    await expect(dialog).to_contain_text(HOW_TO_AUTOGRADE)
    await staff.screenshot(path=artifacts_dir / "browser-formgrader-autograde.png")
    await expect(row.locator(".score")).to_have_text(graded_score)  # the pods' grade stands

    # student1's submission: the student's markup shows, none of its script runs.
    submission = await staff_api.submission_id("ps1", "ps1", "student1")
    await staff.goto(f"{base}/formgrader/submissions/{submission}/")
    await expect(staff.get_by_text("STUDENT-MARKDOWN", exact=True)).to_be_visible()
    await expect(staff.get_by_text("STUDENT-HTML")).to_be_visible()
    await expect(staff.get_by_text("STUDENT-MARKDOWN-OUTPUT")).to_be_visible()
    await no_student_script_ran(staff)
    await staff.screenshot(path=artifacts_dir / "browser-formgrader-submission.png", full_page=True)

    # Grading by hand: a score typed into test-train's box is saved in the gradebook.
    score = staff.locator("input.score#test-train")
    await score.fill("2")
    await score.press("Tab")
    deadline = time.monotonic() + 30
    while True:
        grades = await staff_api.json(f"/formgrader/api/grades?submission_id={submission}")
        train = next(grade for grade in grades if grade["name"] == "test-train")
        if train["manual_score"] == 2:
            break
        assert time.monotonic() < deadline, train
        await asyncio.sleep(0.5)

    # A file the student submitted: served, but its script never runs.
    await staff.goto(f"{base}/formgrader/submissions/{submission}/notes.html")
    await expect(staff.get_by_text("STUDENT-FILE")).to_be_visible()
    await no_student_script_ran(staff)
    await staff.context.close()

    student = await signed_in(browser, sample_platform, "student1")
    await expect(student.get_by_role("link", name="grader-ai-101")).to_have_count(0)
    response = await student.goto(f"{base}/formgrader")
    assert response is not None and response.status == 403
    await student.context.close()
