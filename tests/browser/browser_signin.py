"""Signing in through the hub's login page in Chromium, for the browser tests.

- ``sign_in(page, platform, username)``: the demo login form with the account's password.
- ``SPAWN_TIMEOUT_MS``: how long a browser test waits for a server to start.
"""

from __future__ import annotations

from playwright.async_api import Page

from coursehub.dev import Platform

SPAWN_TIMEOUT_MS = 180_000


async def sign_in(page: Page, platform: Platform, username: str) -> None:
    await page.goto(f"{platform.public_url}/hub/login")
    await page.fill("#username_input", username)
    await page.fill("#password_input", platform.passwords()[username])
    await page.click("#login_submit")
