"""The instructor's course page, clicked through in headless Chromium.

A platform serving a copy of the sample catalog (ai-101's ps1 due tomorrow) with a movable
service clock. instructor1 signs in through the hub and opens
``/services/coursehub/courses/ai-101`` (the hub's OAuth round trip); a cross-site style POST
without the page's ``_xsrf`` token is refused and releases nothing; the Release button
releases ps1. student1 submits full marks on time; the clock moves past the due date and
student2 submits partial marks, late. instructor1 collects, autogrades (the page shows the
grading job and reloads itself until it is done), sees the counts, the late submission and
the score histogram, releases feedback and downloads the grades CSV. An extension granted
through the API is listed with who, what and why; the push button, on a hub without an LMS,
shows the service's refusal. student1 and instructor2 (staff of ml-201 only) get the 403
page.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from platforms import running_platform
from playwright.async_api import Browser, Page, expect

from coursehub.dev import Platform
from coursehub.exchange.archive import extract_archive, pack_files
from coursehub.exchange.client import ServiceClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "assignments"))
from answers import full_marks_answers, partial_answers

CLOCK_VARIABLE = "COURSEHUB_DEV_CLOCK_OFFSET_FILE"
GRADING_TIMEOUT_MS = 600_000


@pytest.fixture(scope="module")
def course_platform(tmp_path_factory, repo_root: Path, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("course-page")
    courses = root / "courses"
    shutil.copytree(repo_root / "courses", courses)
    due = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0).isoformat()
    course_file = courses / "ai-101" / "course.yaml"
    text, count = re.subn(r"due: \S+", f"due: {due}", course_file.read_text())
    assert count == 1, "ai-101's course.yaml should have one due date (ps1's)"
    course_file.write_text(text)
    clock = root / "clock-offset"
    clock.write_text("0")
    with running_platform(
        root,
        artifacts_dir,
        "browser-course-page-logs",
        courses_dir=courses,
        extra_hub_env={CLOCK_VARIABLE: str(clock)},
    ) as platform:
        yield platform


def move_clock(platform: Platform, seconds: float) -> None:
    path = Path(platform.config.extra_hub_env[CLOCK_VARIABLE])
    partial = path.with_suffix(".partial")
    partial.write_text(str(float(path.read_text()) + seconds))
    partial.replace(path)


def token_for(platform: Platform, name: str) -> str:
    request = urllib.request.Request(
        f"{platform.public_url}/hub/api/users/{name}/tokens",
        method="POST",
        data=json.dumps({"note": "course page test"}).encode(),
        headers={"Authorization": f"token {platform.admin_token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["token"]


def submit_answers(platform: Platform, student: str, answer) -> dict:
    """What a student's Submit does: fetch the release, answer, upload (the service's API
    with the student's own token)."""
    client = ServiceClient(platform.service_url, token_for(platform, student))
    with tempfile.TemporaryDirectory() as folder:
        extract_archive(client.fetch_release("ai-101", "ps1"), Path(folder))
        released = json.loads((Path(folder) / "ps1.ipynb").read_text())
    answered = json.dumps(answer(released)).encode()
    return client.submit("ai-101", "ps1", pack_files({"ps1.ipynb": answered}))


def released_assignments(platform: Platform) -> list[str]:
    client = ServiceClient(platform.service_url, platform.admin_token)
    return [item["name"] for item in client.assignments("ai-101")["assignments"]]


async def signed_in_page(browser: Browser, platform: Platform, name: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(f"{platform.public_url}/hub/login")
    await page.fill("#username_input", name)
    await page.fill("#password_input", platform.passwords()[name])
    await page.click("#login_submit")
    await expect(page).to_have_url(re.compile(r"/hub/(spawn|home)"), timeout=30_000)
    return page


def short_utc(iso: str) -> str:
    return f"{iso[:10]} {iso[11:16]} UTC"


def counts_row(page: Page, assignment: str):
    return page.locator(f"table.counts tr[data-assignment='{assignment}'] td")


async def press(page: Page, assignment: str, label: str) -> None:
    section = page.locator(f"section#assignment-{assignment}")
    await section.get_by_role("button", name=label, exact=True).click()


async def test_staff_run_the_course_from_its_page(
    course_platform: Platform, browser: Browser, artifacts_dir: Path
) -> None:
    platform = course_platform
    url = f"{platform.public_url}/services/coursehub/courses/ai-101"
    staff = await signed_in_page(browser, platform, "instructor1")
    await staff.goto(url)
    await expect(staff).to_have_url(url, timeout=30_000)  # back from the hub's OAuth
    await expect(staff.locator("h1")).to_contain_text("Introduction to Deep Learning")
    await expect(staff.locator(".who")).to_contain_text("instructor1 (staff of ai-101)")
    cells = counts_row(staff, "ps1")
    await expect(cells.nth(2)).to_have_text("not yet")

    # The attack: a POST carrying the login cookie but not the page's _xsrf token (what a
    # form on another site would send) is refused, and nothing is released.
    forged = await staff.request.post(f"{url}/assignments/ps1/release", form={"x": "1"})
    assert forged.status == 403, (forged.status, await forged.text())
    assert released_assignments(platform) == []

    await press(staff, "ps1", "Release")
    await expect(staff.locator(".outcome")).to_have_text(
        re.compile(r"^Released ps1 \(\d+ file\(s\)\)\.$"), timeout=120_000
    )
    await expect(staff).to_have_url(url)  # redirected back after the POST
    await expect(cells.nth(2)).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
    assert released_assignments(platform) == ["ps1"]

    # An extension granted through the API shows on the page with who, what and why.
    staff_client = ServiceClient(platform.service_url, token_for(platform, "instructor1"))
    granted = await asyncio.to_thread(
        staff_client.json,
        "POST",
        "courses/ai-101/assignments/ps1/extensions",
        json={"student": "kchen", "minutes": 90, "reason": "medical certificate"},
    )
    await staff.reload()
    extension = staff.locator(f"table.extensions tr[data-extension='{granted['id']}'] td")
    assert await extension.all_inner_texts() == [
        "kchen",
        "ps1",
        "+90 min",
        "instructor1",
        short_utc(granted["granted_at"]),
        "medical certificate",
    ]
    # No LMS is set up on this hub: the push button says so, and changes nothing.
    await press(staff, "ps1", "Push grades to the LMS")
    await expect(staff.locator(".outcome.failed")).to_contain_text(
        "push ps1: grade passback is not set up on this hub", timeout=60_000
    )

    on_time = await asyncio.to_thread(submit_answers, platform, "student1", full_marks_answers)
    assert on_time["late"] is False
    move_clock(platform, 2 * 24 * 3600)  # past ps1's due date (tomorrow)
    late = await asyncio.to_thread(submit_answers, platform, "student2", partial_answers)
    assert late["late"] is True

    await staff.reload()
    texts = await cells.all_inner_texts()
    # Assignment, Due, Released, Students, Fetched, Submitted, Late, Collected, Graded, Feedback
    assert texts[4:] == ["2", "2", "1", "0", "0", "0"], texts
    late_rows = staff.locator("section#assignment-ps1 table.late tbody tr")
    await expect(late_rows).to_have_count(1)
    await expect(late_rows.first).to_contain_text("student2")

    await press(staff, "ps1", "Collect")
    await expect(staff.locator(".outcome")).to_have_text(
        "Collected 2 submission(s) of ps1.", timeout=120_000
    )
    await press(staff, "ps1", "Autograde")
    await expect(staff.locator(".outcome")).to_contain_text("Autograding ps1 started")
    grading = staff.locator("section#assignment-ps1 .grading")
    await expect(grading).to_contain_text("autograde")
    await staff.screenshot(path=artifacts_dir / "browser-course-page-grading.png", full_page=True)
    # No reload from the test: the page reloads itself while the job runs.
    await expect(grading).to_have_text(
        "Grading: autograde done: 2/2 graded, 0 running, 0 failed", timeout=GRADING_TIMEOUT_MS
    )
    assert (await cells.all_inner_texts())[7:9] == ["2", "2"]  # collected, graded
    chart = staff.locator("section#assignment-ps1 figure.chart svg")
    await expect(chart).to_contain_text("Scores of ps1 (2 graded)")

    await press(staff, "ps1", "Release feedback")
    await expect(staff.locator(".outcome")).to_have_text(
        "Released feedback on ps1 to 2 student(s).", timeout=300_000
    )
    assert (await cells.all_inner_texts())[9] == "2"
    await staff.screenshot(path=artifacts_dir / "browser-course-page.png", full_page=True)

    async with staff.expect_download() as download_info:
        await staff.get_by_role("link", name="Export grades (CSV)").click()
    download = await download_info.value
    assert download.suggested_filename == "ai-101-grades.csv"
    rows = {
        row["student"]: row
        for row in csv.DictReader(io.StringIO(Path(await download.path()).read_text()))
    }
    assert (rows["student1"]["score"], rows["student1"]["late"]) == ("10", "false")
    assert (rows["student2"]["score"], rows["student2"]["late"]) == ("7", "true")
    await staff.context.close()

    for name, reason in (
        ("student1", "student1 is not staff of ai-101"),
        ("instructor2", "instructor2 is not staff of ai-101"),
    ):
        other = await signed_in_page(browser, platform, name)
        response = await other.goto(url)
        await expect(other.locator("h1")).to_have_text("403 · Not allowed", timeout=30_000)
        await expect(other.locator(".refused")).to_contain_text(reason)
        assert response is not None and response.status == 403
        refused = await other.request.post(f"{url}/assignments/ps1/collect")
        assert refused.status == 403
        await other.context.close()
