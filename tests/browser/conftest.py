"""Fixtures for browser tests: a platform with the sample courses and headless Chromium.

- ``sample_platform`` (module scope): ``coursehub.dev.Platform`` serving ``courses/`` (the
  sample catalog a newcomer sees with ``make dev``) on free ports, through
  ``platforms.running_platform``; logs kept in ``test-artifacts/browser-platform-logs``.
- ``browser`` (module scope): Debian's Chromium (``/usr/bin/chromium``) through Playwright,
  with the flags this sandbox needs; never a downloaded browser build.
- ``page``: a fresh browser context and page per test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from platforms import running_platform
from playwright.async_api import Browser, Page, async_playwright

from coursehub.dev import Platform

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def sample_platform(tmp_path_factory, repo_root: Path, artifacts_dir: Path) -> Iterator[Platform]:
    state = tmp_path_factory.mktemp("browser-platform")
    with running_platform(
        state, artifacts_dir, "browser-platform-logs", courses_dir=repo_root / "courses"
    ) as platform:
        yield platform


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    yield await context.new_page()
    await context.close()
