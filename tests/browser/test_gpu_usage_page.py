"""The GPU usage page, clicked through in headless Chromium against the sample catalog.

student1 runs a GPU server of ai-101 for a moment (started and stopped through the hub's
REST API). admin signs in through the hub's login form, opens Services → GPU usage, lands
on ``/services/coursehub/usage`` after the hub's OAuth round trip, and sees student1's row,
ai-101's total and the chart. instructor1 sees only ai-101 to choose from. student1 has no
Services menu entry and gets the 403 page with its sentence.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from browser_signin import sign_in
from playwright.async_api import Browser, Page, expect

from coursehub.dev import Platform


def hub_call(platform: Platform, method: str, path: str, body: dict | None = None):
    request = urllib.request.Request(
        f"{platform.public_url}/hub/api{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {platform.admin_token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return response.status, json.loads(text) if text else None


def server(platform: Platform, name: str) -> dict | None:
    return hub_call(platform, "GET", f"/users/{name}")[1]["servers"].get("")


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def gpu_session(platform: Platform, name: str) -> None:
    """Start ``name``'s ai-101 GPU server, wait until it runs, and stop it."""
    status, _ = hub_call(platform, "POST", f"/users/{name}/server", {"profile": "ai-101-gpu"})
    assert status in (201, 202)
    wait_until(lambda: (server(platform, name) or {}).get("ready"), 180, f"{name}'s server")
    status, _ = hub_call(platform, "DELETE", f"/users/{name}/server")
    assert status in (202, 204)
    wait_until(lambda: server(platform, name) is None, 60, f"{name}'s server to stop")


async def signed_in_page(browser: Browser, platform: Platform, name: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await sign_in(page, platform, name)
    await expect(page).to_have_url(re.compile(r"/hub/(spawn|home)"), timeout=30_000)
    return page


async def test_admin_sees_the_table_and_chart_and_a_student_the_403_page(
    sample_platform: Platform, browser: Browser, artifacts_dir: Path
) -> None:
    await asyncio.to_thread(gpu_session, sample_platform, "student1")

    admin = await signed_in_page(browser, sample_platform, "admin")
    await admin.goto(f"{sample_platform.public_url}/hub/home")
    await (
        admin.get_by_role("button", name="Services")
        .or_(admin.locator("a.dropdown-toggle", has_text="Services"))
        .click()
    )
    await admin.get_by_role("link", name="GPU usage").click()
    await expect(admin).to_have_url(re.compile(r"/services/coursehub/usage$"), timeout=30_000)
    await expect(admin.locator("h1")).to_have_text("GPU usage")
    await expect(admin.locator(".who")).to_contain_text("Signed in as admin (admin)")
    table = admin.locator("table.usage")
    student_row = table.locator("tr", has=admin.locator("td", has_text=re.compile("^student1$")))
    await expect(student_row).to_have_count(1)
    cells = await student_row.locator("td").all_inner_texts()
    assert cells[0] == "ai-101" and cells[4] == "1", cells  # course, sessions
    assert cells[3] == "0.00", cells  # used: no GPU work reported
    assert float(cells[2]) >= 0.0
    total = table.locator("tr.total", has=admin.locator("td", has_text=re.compile("^ai-101$")))
    await expect(total).to_have_count(1)
    # Held vs used per course (nothing reported GPU work here, so nothing is used).
    held = admin.locator("table.held-vs-used tr", has=admin.locator("td", has_text="ai-101"))
    await expect(held).to_have_count(1)
    held_cells = await held.locator("td").all_inner_texts()
    assert held_cells[1] == "(total)" and held_cells[3] == "0.00", held_cells
    chart = admin.locator("figure.chart svg")
    await expect(chart).to_be_visible()
    await expect(chart).to_contain_text("GPU-hours per day per course")
    await expect(chart).to_contain_text("ai-101")
    assert (await chart.bounding_box())["width"] > 300
    await admin.screenshot(path=artifacts_dir / "browser-gpu-usage-admin.png", full_page=True)

    # The filter: a course nobody used a GPU in, since today.
    today = datetime.now(UTC).date().isoformat()
    await admin.select_option("select[name=course]", "ml-201")
    await admin.fill("input[name=since]", today)
    await admin.click("form.filters button[type=submit]")
    await expect(admin).to_have_url(re.compile(rf"course=ml-201&since={today}"))
    await expect(admin.locator(".empty")).to_have_text(f"No GPU sessions since {today} 00:00 UTC.")
    await expect(admin.locator("figure.chart")).to_have_count(0)
    await admin.context.close()

    staff = await signed_in_page(browser, sample_platform, "instructor1")
    await staff.goto(f"{sample_platform.public_url}/services/coursehub/usage")
    await expect(staff.locator(".who")).to_contain_text("instructor1 (staff of ai-101)")
    options = await staff.locator("select[name=course] option").all_inner_texts()
    assert options == ["All my courses", "ai-101"]
    await staff.context.close()

    student = await signed_in_page(browser, sample_platform, "student1")
    await student.goto(f"{sample_platform.public_url}/hub/home")
    await expect(student.locator("a.dropdown-toggle", has_text="Services")).to_have_count(0)
    response = await student.goto(f"{sample_platform.public_url}/services/coursehub/usage")
    assert response is not None and response.status == 403
    await expect(student.locator("h1")).to_have_text("403 · Not allowed")
    await expect(student.locator(".refused")).to_have_text(
        "student1 is neither an admin nor staff of a course: GPU usage reports are for "
        "admins and course staff."
    )
    await student.screenshot(path=artifacts_dir / "browser-gpu-usage-student.png")
    await student.context.close()
