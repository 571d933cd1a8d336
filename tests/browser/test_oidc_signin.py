"""Sign-in through a real OpenID Connect provider, clicked through in headless Chromium.

The hub runs ``CourseOIDCAuthenticator`` (``COURSEHUB_AUTH=oidc``) against node's
``oidc-provider`` (``oidc_fixtures.OIDCProvider``), whose token answers pass through
``TokenTamperer`` so tests can hand the hub a tampered or an expired ID token. Accounts are
opaque subjects with e-mail addresses; the hub makes usernames from the addresses (the
whole address: the provider has no ``COURSEHUB_OIDC_EMAIL_DOMAINS``).

The catalog lists ``stu.dent`` (student) and ``prof.ada`` (instructor) in ai-101 with the
addresses they sign in with, so those sign-ins prove the listed names and land in their
groups and environments; look-alike addresses do not (review §3).
``test_claim_only_student_gets_the_course_of_the_claim`` relies on the membership overlay
(the coursehub service's ``PUT users/<name>/memberships`` and
``CatalogSync.refresh_overlay``) of the roster work.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from factories import course_dict, environment, small
from oidc_fixtures import CLIENT_ID, CLIENT_SECRET, OIDCProvider, TokenTamperer
from platforms import running_platform
from playwright.async_api import Page, Response, expect

from coursehub.dev import Platform
from coursehub.dev.processes import free_port

COURSES = [
    course_dict(
        "ai-101",
        title="Introduction to AI",
        term="test",
        instructors=["prof.ada", "instructor1"],
        tas=["ta1"],
        students=["stu.dent"],
        emails={"prof.ada": "prof.ada@uni.example", "stu.dent": "stu.dent+ai@uni.example"},
        environments=[environment("cpu", "AI-101 · CPU", "img:cpu", **small())],
    ),
    course_dict(
        "ml-201",
        title="Machine Learning II",
        term="test",
        instructors=["instructor2"],
        environments=[environment("cpu", "ML-201 · CPU", "img:cpu", **small())],
    ),
]
# INSTRUCTOR1@gmail.com typed in full-width letters (U+FF21...), an address anyone can have.
FULL_WIDTH_INSTRUCTOR1 = "".join(chr(ord(c) + 0xFEE0) for c in "INSTRUCTOR1") + "@gmail.com"
# Subject -> claims. The subject is what one types on the provider's login page.
ACCOUNTS = {
    "s-1001": {"email": "Stu.Dent+ai@Uni.Example", "email_verified": True, "groups": []},
    "p-2001": {
        "email": "Prof.Ada@uni.example",
        "email_verified": True,
        "groups": ["ai-101:instructor", "all-staff"],
    },
    "x-3001": {"email": "stu.dent@elsewhere.example", "email_verified": True, "groups": []},
    "a-4001": {
        "email": "it.admin@uni.example",
        "email_verified": True,
        "groups": ["coursehub:admin"],
    },
    "c-5001": {
        "email": "Claim.Only@uni.example",
        "email_verified": True,
        "groups": ["ml-201:student"],
    },
    # Review §3: addresses anyone can have that look like names the catalog lists
    # (ai-101's instructor1 and ta1, ml-201's instructor2) or the admin list's it-admin.
    "t-6001": {"email": FULL_WIDTH_INSTRUCTOR1, "email_verified": True, "groups": []},
    "t-6002": {"email": "TA1+x@evil.example", "email_verified": True, "groups": []},
    "t-6003": {"email": "Ínstructor2@x.y", "email_verified": True, "groups": []},
    "t-7001": {"email": "it-admin@gmail.com", "email_verified": True, "groups": []},
    # The real it-admin, bound by subject in COURSEHUB_IDENTITY_BINDINGS.
    "a-9001": {"email": "r.admin@uni.example", "email_verified": True, "groups": []},
    # A provider name (no e-mail) that equals the course file's TA: a collision.
    "k-8001": {"preferred_username": "TA1", "groups": ["ai-101:student"]},
}


@pytest.fixture(scope="module")
def oidc_platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[tuple[Platform, OIDCProvider]]:
    root = tmp_path_factory.mktemp("oidc")
    with running_platform(
        root, artifacts_dir, "oidc-signin-logs", *COURSES, start=False
    ) as platform:
        platform.state_dir.mkdir(parents=True)
        provider = OIDCProvider(
            platform.state_dir, f"{platform.public_url}/hub/oauth_callback", ACCOUNTS
        ).start()
        try:
            yield platform, provider
        finally:
            provider.stop()


@pytest.fixture(scope="module")
async def tamperer(oidc_platform) -> AsyncIterator[TokenTamperer]:
    platform, provider = oidc_platform
    running = await TokenTamperer(provider).start()
    platform.config.extra_hub_env.update(
        COURSEHUB_AUTH="oidc",
        COURSEHUB_OIDC_ISSUER=provider.issuer,
        COURSEHUB_OIDC_CLIENT_ID=CLIENT_ID,
        COURSEHUB_OIDC_CLIENT_SECRET=CLIENT_SECRET,
        COURSEHUB_OIDC_TOKEN_URL=running.url,
        COURSEHUB_OIDC_ADMIN_VALUES="coursehub:admin",
        # No COURSEHUB_OIDC_EMAIL_DOMAINS: anyone with an account at the provider may try.
        COURSEHUB_ADMIN_USERS="it-admin",
        COURSEHUB_IDENTITY_BINDINGS='{"it-admin": {"subject": "a-9001"}}',
    )
    # The hub reads the provider's discovery document as it starts; the platform starts
    # in a thread so this loop keeps serving the token endpoint.
    await asyncio.to_thread(platform.start)
    yield running
    running.mode = "pass"
    await running.stop()


@pytest.fixture
def hub(oidc_platform, tamperer) -> Platform:
    tamperer.mode = "pass"
    return oidc_platform[0]


async def hub_user(platform: Platform, name: str) -> dict | None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{platform.hub_url}/hub/api/users/{name}",
            headers={"Authorization": f"token {platform.admin_token}"},
        ) as response,
    ):
        return await response.json() if response.status == 200 else None


async def signed_in_as(page: Page, platform: Platform) -> str | None:
    """The hub username the page's session cookie stands for, None if signed out."""
    answer = await page.request.get(f"{platform.public_url}/hub/api/user")
    return (await answer.json())["name"] if answer.ok else None


async def sign_in(page: Page, platform: Platform, subject: str) -> Response:
    """Click through the hub's login page and the provider's login and consent pages;
    return the response of the hub's OAuth callback."""
    # The provider's development pages import a web font; there is no internet here.
    await page.route(re.compile(r"^https://fonts\."), lambda route: route.abort())
    await page.goto(f"{platform.public_url}/hub/login")
    await page.locator("a", has_text="Sign in with").click()
    await page.fill("input[name=login]", subject)
    await page.fill("input[name=password]", "any")
    await page.click("button[type=submit]")
    async with page.expect_response(re.compile(r"/hub/oauth_callback")) as callback:
        await page.get_by_role("button", name="Continue").click()
    return await callback.value


async def test_student_signs_in_and_sees_their_course(hub, page: Page, artifacts_dir: Path):
    await sign_in(page, hub, "s-1001")
    await expect(page).to_have_url(re.compile(r"/hub/spawn"), timeout=30_000)
    form = page.locator("#spawn_form")
    await expect(form).to_contain_text("AI-101 · CPU")
    await expect(form).not_to_contain_text("ML-201")
    await page.screenshot(path=artifacts_dir / "oidc-1-student-spawn.png", full_page=True)
    user = await hub_user(hub, "stu.dent")
    assert user is not None, "Stu.Dent+ai@Uni.Example signs in as stu.dent"
    assert "course-ai-101-students" in user["groups"]
    assert not user["admin"]


async def test_instructor_signs_in_as_staff(hub, page: Page):
    await sign_in(page, hub, "p-2001")
    await expect(page).to_have_url(re.compile(r"/hub/spawn"), timeout=30_000)
    await expect(page.locator("#spawn_form")).to_contain_text("AI-101 · CPU")
    user = await hub_user(hub, "prof.ada")
    assert "course-ai-101-staff" in user["groups"]
    assert not user["admin"]


async def test_the_username_stays_when_the_email_changes(hub, oidc_platform, page: Page):
    provider = oidc_platform[1]
    await sign_in(page, hub, "s-1001")  # stu.dent exists from the first sign-in or now
    provider.set_accounts(
        {**ACCOUNTS, "s-1001": {**ACCOUNTS["s-1001"], "email": "stu.married@uni.example"}}
    )
    try:
        await page.context.clear_cookies()
        await sign_in(page, hub, "s-1001")
        await expect(page).to_have_url(re.compile(r"/hub/spawn"), timeout=30_000)
        assert await signed_in_as(page, hub) == "stu.dent"
        assert await hub_user(hub, "stu.married@uni.example") is None
    finally:
        provider.set_accounts(ACCOUNTS)


async def test_a_user_without_a_course_gets_a_clear_page(hub, page: Page, artifacts_dir: Path):
    callback = await sign_in(page, hub, "x-3001")
    assert callback.status == 403
    body = page.locator("body")
    await expect(body).to_contain_text("No course for this account")
    # the same local part as stu.dent, another address: a name of its own
    await expect(body).to_contain_text("the hub knows you as 'stu.dent@elsewhere.example'")
    await expect(body).to_contain_text("ask its instructor to add you")
    await expect(body).not_to_contain_text("Traceback")
    await page.screenshot(path=artifacts_dir / "oidc-2-no-course.png", full_page=True)
    assert await hub_user(hub, "stu.dent@elsewhere.example") is None, "refused: not created"


async def test_admin_from_the_claim(hub, page: Page):
    await sign_in(page, hub, "a-4001")
    await expect(page).not_to_have_url(re.compile(r"/hub/login"), timeout=30_000)
    user = await hub_user(hub, "it.admin@uni.example")
    assert user["admin"]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("tamper", "Signature verification failed"), ("expire", "Signature has expired")],
)
async def test_a_tampered_or_expired_id_token_is_refused(
    hub, tamperer, page: Page, artifacts_dir: Path, mode, reason
):
    tamperer.mode = mode
    callback = await sign_in(page, hub, "s-1001")
    assert tamperer.seen[-1] == mode
    assert callback.status == 403
    body = page.locator("body")
    await expect(body).to_contain_text("Sign-in refused")
    await expect(body).to_contain_text(reason)
    await expect(body).not_to_contain_text("Traceback")
    await page.screenshot(path=artifacts_dir / f"oidc-3-{mode}.png", full_page=True)
    assert not (await hub_user(hub, "stu.dent") or {}).get("admin")


async def test_only_the_hub_may_resolve_identities(hub):
    token = hub.admin_token  # an admin token, but not the hub's own client
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{hub.public_url}/services/coursehub/api/identities",
            headers={"Authorization": f"token {token}"},
            json={"issuer": "x", "subject": "y", "preferred": "admin"},
        ) as response,
    ):
        assert response.status == 403
        assert "only the hub may" in (await response.json())["message"]


# Needs the roster branch: the membership overlay makes a claim-only member a member.
async def test_claim_only_student_gets_the_course_of_the_claim(hub, page: Page):
    await sign_in(page, hub, "c-5001")
    await expect(page).to_have_url(re.compile(r"/hub/spawn"), timeout=30_000)
    form = page.locator("#spawn_form")
    await expect(form).to_contain_text("ML-201 · CPU", timeout=15_000)
    await expect(form).not_to_contain_text("AI-101")
    user = await hub_user(hub, "claim.only@uni.example")
    assert "course-ml-201-students" in user["groups"]


@pytest.mark.parametrize(
    ("subject", "listed"),
    [("t-6001", "instructor1"), ("t-6002", "ta1"), ("t-6003", "instructor2")],
    ids=["full-width", "plus-tag", "accent"],
)
async def test_a_look_alike_address_does_not_take_a_listed_name(hub, page: Page, subject, listed):
    """Review §3 (confirmed takeovers): each address used to become the listed staff name,
    and so staff of the course, at the first sign-in."""
    callback = await sign_in(page, hub, subject)
    assert await signed_in_as(page, hub) != listed, f"{subject} signed in as {listed}"
    assert callback.status == 403
    body = page.locator("body")
    await expect(body).to_contain_text("No course for this account")
    await expect(body).not_to_contain_text(f"the hub knows you as '{listed}'")


async def test_an_admin_list_name_is_not_taken_by_an_address(hub, page: Page, artifacts_dir):
    """Review §3: COURSEHUB_ADMIN_USERS=it-admin and a provider without e-mail domains:
    it-admin@gmail.com used to sign in as the admin it-admin."""
    callback = await sign_in(page, hub, "t-7001")
    assert await signed_in_as(page, hub) != "it-admin", "it-admin@gmail.com is the admin"
    assert callback.status == 403
    body = page.locator("body")
    await expect(body).to_contain_text("No course for this account")
    await expect(body).not_to_contain_text("the hub knows you as 'it-admin'")
    await page.screenshot(path=artifacts_dir / "oidc-4-admin-name-kept.png", full_page=True)


async def test_a_bound_identity_gets_the_admin_name(hub, page: Page):
    await sign_in(page, hub, "a-9001")
    await expect(page).not_to_have_url(re.compile(r"/hub/login"), timeout=30_000)
    assert await signed_in_as(page, hub) == "it-admin"
    assert (await hub_user(hub, "it-admin"))["admin"]


async def test_a_provider_name_equal_to_a_listed_name_is_a_logged_collision(hub, page: Page):
    """No e-mail, preferred_username TA1: the name would be ta1, the course file's TA. The
    person gets ta1-2 (a student, from the claim) and the service logs the collision."""
    await sign_in(page, hub, "k-8001")
    await expect(page).to_have_url(re.compile(r"/hub/spawn"), timeout=30_000)
    assert await signed_in_as(page, hub) == "ta1-2"
    for _ in range(40):  # course groups follow the sign-in within seconds
        user = await hub_user(hub, "ta1-2")
        if "course-ai-101-students" in user["groups"]:
            break
        await asyncio.sleep(0.5)
    assert "course-ai-101-students" in user["groups"]
    assert "course-ai-101-staff" not in user["groups"]
    log = (hub.logs_dir / "hub.log").read_text()
    line = next(line for line in log.splitlines() if "Username collision" in line)
    assert "identity 'k-8001'" in line
    assert "'ta1' is reserved" in line and "it gets 'ta1-2'" in line


async def test_a_spawn_link_on_another_site_shows_the_form(hub, page: Page, artifacts_dir):
    """Review §11, clicked in Chromium: a signed-in student follows a link on a forum (at
    http://localhost:<port>, another site than the hub's 127.0.0.1) to
    /hub/spawn?profile=ml-201-cpu. The browser says Sec-Fetch-Site: cross-site and sends the
    session cookie (a top-level navigation); the hub shows the spawn form, starts nothing."""
    await sign_in(page, hub, "c-5001")
    await expect(page).to_have_url(re.compile(r"/hub/spawn"), timeout=30_000)
    name = await signed_in_as(page, hub)
    link = f"{hub.public_url}/hub/spawn?profile=ml-201-cpu"

    async def forum(request: web.Request) -> web.Response:
        return web.Response(
            text=f'<p>Look at my notebook: <a id="bait" href="{link}">here</a></p>',
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_get("/t/42", forum)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await page.goto(f"http://localhost:{port}/t/42")
        async with page.expect_response(re.compile(r"/hub/spawn\?profile=")) as answered:
            await page.click("#bait")
        answer = await answered.value
        assert answer.status == 200, f"{answer.status} {answer.headers.get('location')}"
        # What the hub received (Playwright's view of the headers misses those the network
        # stack adds once a route is set, as sign_in does).
        log = (hub.logs_dir / "hub.log").read_text()
        assert (
            f"Not starting 'ml-201-cpu' for {name} from a link (Sec-Fetch-Site: cross-site" in log
        )
        await expect(page.locator("#spawn_form")).to_be_visible()
        await expect(page.locator("body")).to_contain_text("this link did not start")
        await expect(page.locator("#profile-item-ml-201-cpu")).to_be_checked()
        await page.screenshot(path=artifacts_dir / "oidc-5-cross-site-link.png", full_page=True)
        assert not (await hub_user(hub, name))["servers"], "the link started a server"
    finally:
        await runner.cleanup()
        if (await hub_user(hub, name) or {}).get("servers"):
            async with (
                aiohttp.ClientSession() as session,
                session.delete(
                    f"{hub.hub_url}/hub/api/users/{name}/server",
                    headers={"Authorization": f"token {hub.admin_token}"},
                ),
            ):
                pass
