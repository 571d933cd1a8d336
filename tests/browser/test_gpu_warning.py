"""A GPU budget warning reaches the student inside JupyterLab, in headless Chromium.

The course gives 0.1 GPU-hours (6 minutes) a week, less than the 10-minute warning time, so
the service warns as soon as the GPU server runs; JupyterLab's coursehub-notices plugin
shows it as a notification without a page reload.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_signin import SPAWN_TIMEOUT_MS, sign_in
from factories import GPU_IMAGE, MIG_1G, course_dict, environment, small
from platforms import running_platform
from playwright.async_api import Page, expect

from coursehub.dev import Platform

COURSE = course_dict(
    "budget-101",
    title="A course with a small GPU budget",
    term="test",
    instructors=["teacher"],
    students=["spender"],
    environments=[
        environment(
            "gpu",
            "BUDGET-101 · MIG slice",
            GPU_IMAGE,
            **small(),
            gpu={"count": 1, "resource": MIG_1G},
            default=True,
        )
    ],
    gpu_policy={"gpu_hours_per_student_per_week": 0.1},
)


@pytest.fixture(scope="module")
def budget_platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("gpu-warning")
    with running_platform(
        root,
        artifacts_dir,
        "browser-gpu-warning-logs",
        COURSE,
        extra_hub_env={"COURSEHUB_GPU_ENFORCE_SECONDS": "1"},
    ) as platform:
        yield platform


async def test_jupyterlab_shows_the_gpu_budget_warning(
    budget_platform: Platform, page: Page, artifacts_dir: Path
) -> None:
    await sign_in(page, budget_platform, "spender")
    await expect(page).to_have_url(re.compile(r"/hub/spawn"), timeout=30_000)
    await page.locator("input[name='profile'][value='budget-101-gpu']").check()
    await page.locator(
        "#spawn_form input[type='submit'], #spawn_form button[type='submit']"
    ).click()
    await expect(page).to_have_url(re.compile(r"/user/spender/lab"), timeout=SPAWN_TIMEOUT_MS)
    warning = page.get_by_text(re.compile(r"Your GPU server stops in \d+ (min|s)"))
    await expect(warning.first).to_be_visible(timeout=60_000)
    await expect(warning.first).to_contain_text("0.1 GPU-hours for budget-101 this week")
    # The platform's settings keep JupyterLab's own news prompt out of the way.
    await expect(page.get_by_text("official Jupyter news")).to_have_count(0)
    await page.screenshot(path=artifacts_dir / "browser-gpu-warning.png", full_page=True)
