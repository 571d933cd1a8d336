"""A student's first session, clicked through in headless Chromium.

student1 signs in with the demo password, sees the environments of ai-101 and no other
course's, picks the GPU environment, watches the progress page, lands in JupyterLab, runs
``print(2 + 2)`` in a new notebook and sees ``4``. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
from pathlib import Path

from browser_signin import SPAWN_TIMEOUT_MS, sign_in
from playwright.async_api import Page, expect

from coursehub.dev import Platform


async def test_student_picks_gpu_environment_and_runs_code(
    sample_platform: Platform, page: Page, artifacts_dir: Path
) -> None:
    await sign_in(page, sample_platform, "student1")

    # The spawn form lists ai-101's environments only (student1 is not in ml-201).
    await expect(page).to_have_url(re.compile(r"/hub/spawn"), timeout=30_000)
    form = page.locator("#spawn_form")
    await expect(form).to_contain_text("AI-101 · PyTorch · 1 GPU")
    await expect(form).to_contain_text("AI-101 · PyTorch · CPU only")
    await expect(form).not_to_contain_text("ML-201")
    assert await page.locator("input[name='profile']").count() == 2
    await page.screenshot(path=artifacts_dir / "browser-1-spawn-form.png", full_page=True)

    await page.locator("input[name='profile'][value='ai-101-gpu']").check()
    await page.locator(
        "#spawn_form input[type='submit'], #spawn_form button[type='submit']"
    ).click()

    # The pending page shows plain-language progress while the pod is scheduled and started.
    await expect(page).to_have_url(re.compile(r"/hub/spawn-pending/student1"), timeout=30_000)
    await expect(page.locator("#progress-log")).to_contain_text(
        re.compile(r"A100 GPU is assigned on gpu-a100-\d"), timeout=60_000
    )
    await page.screenshot(path=artifacts_dir / "browser-2-progress.png", full_page=True)

    # JupyterLab: open a notebook, run a cell, read the output.
    await expect(page).to_have_url(re.compile(r"/user/student1/lab"), timeout=SPAWN_TIMEOUT_MS)
    await page.locator('.jp-LauncherCard[data-category="Notebook"]').first.click(timeout=120_000)
    cell_editor = page.locator(".jp-Notebook .jp-Cell .cm-content").first
    await cell_editor.wait_for(timeout=60_000)
    # The status bar says Idle once the kernel is connected; typing earlier can be lost.
    await page.locator(".jp-StatusBar-TextItem", has_text="Idle").first.wait_for(timeout=60_000)
    await cell_editor.click()
    await page.keyboard.type("print(2 + 2)")
    await page.keyboard.press("Shift+Enter")
    output = page.locator(".jp-OutputArea-output").first
    try:
        await expect(output).to_have_text("4", timeout=60_000)
    finally:
        await page.screenshot(path=artifacts_dir / "browser-3-jupyterlab.png", full_page=True)
