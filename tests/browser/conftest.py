"""Fixtures for browser tests: a platform with the sample courses and headless Chromium.

- ``sample_platform`` (module scope): ``coursehub.dev.Platform`` serving ``courses/`` (the
  sample catalog a newcomer sees with ``make dev``) on free ports; logs kept in
  ``test-artifacts/`` after the module.
- ``browser`` (module scope): Debian's Chromium (``/usr/bin/chromium``) through Playwright,
  with the flags this sandbox needs; never a downloaded browser build.
- ``page``: a fresh browser context and page per test.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from coursehub.dev import Platform, PlatformConfig

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
    platform = Platform(PlatformConfig(state_dir=state, courses_dir=repo_root / "courses", port=0))
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()
        target = artifacts_dir / "browser-platform-logs"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(platform.logs_dir, target, dirs_exist_ok=True)


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
