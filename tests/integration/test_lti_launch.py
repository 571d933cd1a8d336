"""LTI 1.3 launches from a real platform implementation into a real hub.

The platform (``lti_platform.LTIPlatform``, PyPI ``lti1p3platform``) signs each launch
with its own key; the hub runs ``CourseLTIAuthenticator`` (``COURSEHUB_AUTH=lti``). A
client with a cookie jar plays the browser: it follows the platform's login initiation to
the hub and back, and posts the platform's launch form to the hub; on the hub it sends the
``Sec-Fetch-*`` headers a browser sends.

The hub trusts this platform's e-mail addresses (``COURSEHUB_LTI_TRUST_EMAIL=1``) and the
course file lists its people's addresses (``emails``), so lti.prof and lti.student prove
their listed names; the last tests restart the hub with the default (untrusted) and a
binding instead.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from factories import course_dict, environment, small
from hub_platform import HubAPI
from lti_platform import CLIENT_ID, INSTRUCTOR, LEARNER, LIS, MENTOR, LTIPlatform, form_fields
from platforms import running_platform
from yarl import URL

from coursehub.dev import Platform

CONTEXT = "4dde05e8ca1973bcca9bffc13e1548820eee93a3"
COURSES = [
    course_dict(
        "ai-101",
        title="Introduction to AI",
        term="test",
        instructors=["lti.prof", "j.smith"],
        students=["lti.student"],
        environments=[environment("cpu", "AI-101 · CPU", "img:cpu", **small())],
        lti={"context_ids": [CONTEXT]},
        emails={
            "lti.prof": "lti.prof@uni.example",
            "lti.student": "lti.student@uni.example",
            "j.smith": "j.smith@uni.example",
        },
    ),
    # No staff and no students (the factory writes an empty student list).
    course_dict(
        "ml-201",
        title="Machine Learning II",
        term="test",
        environments=[environment("cpu", "ML-201 · CPU", "img:cpu", **small())],
    ),
]
STUDENT = {
    "user_id": "lms-user-17",
    "email": "LTI.Student@uni.example",
    "roles": [LEARNER],
    "context_id": CONTEXT,
    "context_title": "AI-101 Introduction to AI",
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("lti")
    with running_platform(root, artifacts_dir, "lti-launch-logs", *COURSES, start=False) as hub:
        yield hub


@pytest.fixture(scope="module")
async def lms(hub: Platform) -> AsyncIterator[LTIPlatform]:
    platform = await LTIPlatform().start(hub.public_url)
    hub.config.extra_hub_env.update(
        COURSEHUB_AUTH="lti",
        COURSEHUB_LTI_ISSUER=platform.issuer,
        COURSEHUB_LTI_CLIENT_IDS=CLIENT_ID,
        COURSEHUB_LTI_AUTHORIZE_URL=f"{platform.url}/authorize",
        COURSEHUB_LTI_JWKS_URL=f"{platform.url}/jwks",
        COURSEHUB_LTI_TRUST_EMAIL="1",
    )
    await asyncio.to_thread(hub.start)  # this loop keeps serving the platform meanwhile
    yield platform
    await platform.stop()


@pytest.fixture(scope="module")
async def hub_api(hub: Platform, lms) -> AsyncIterator[HubAPI]:
    async with aiohttp.ClientSession() as session:
        yield HubAPI(hub, session)


class Browser:
    """What the browser does in a launch: follow redirects, keep cookies, post forms."""

    def __init__(self):
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def launch(self, link: str) -> tuple[aiohttp.ClientResponse, str, dict, dict]:
        """Click ``link``; returns the hub's answer to the launch form post, its body, the
        form's fields and the cookies the hub had set (for a replay)."""
        async with self.session.get(link) as page:
            assert page.status == 200, await page.text()
            action, fields = form_fields(await page.text())
        cookies = {
            name: morsel.value
            for name, morsel in self.session.cookie_jar.filter_cookies(URL(action)).items()
        }
        async with self.session.post(action, data=fields, allow_redirects=False) as answer:
            return answer, await answer.text(), fields, cookies

    async def close(self):
        await self.session.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    opened = Browser()
    yield opened
    await opened.close()


# What Chromium sends on the hub: following the launch's redirect (the chain began on the
# LMS), a cross-site iframe, a link clicked on another site, a link on the hub's own pages.
REDIRECTED_FROM_LMS = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
CROSS_SITE = {
    "iframe": {
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": "navigate",
        "Sec-Fetch-Dest": "iframe",
    },
    "link": {
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": "navigate",
        "Sec-Fetch-Dest": "document",
        "Sec-Fetch-User": "?1",
    },
}
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}


async def test_learner_launch_signs_in_and_starts_the_linked_environment(
    hub, lms, hub_api, browser
):
    link = lms.prepare(**STUDENT, custom={"environment": "cpu"})
    answer, body, _, _ = await browser.launch(link)
    assert answer.status == 302, body
    deep_link = answer.headers["Location"]
    assert deep_link.startswith("/hub/spawn?profile=ai-101-cpu&launch_ticket=")

    # LTI.Student@uni.example, trusted and listed for lti.student in the course file
    user = await hub_api.user("lti.student")
    assert "course-ai-101-students" in user["groups"]
    assert not user["admin"]

    # The deep link starts the environment: its ticket vouches for the cross-site redirect.
    async with browser.session.get(
        f"{hub.public_url}{deep_link}", headers=REDIRECTED_FROM_LMS, allow_redirects=False
    ) as spawn:
        assert spawn.status == 302, await spawn.text()
        assert "/hub/spawn-pending/lti.student" in spawn.headers["Location"]
    await hub_api.wait_ready("lti.student")
    assert await hub_api.stop("lti.student") in (202, 204)
    await hub_api.wait_stopped("lti.student")

    # The ticket is spent: the same link again only shows the form.
    async with browser.session.get(
        f"{hub.public_url}{deep_link}", headers=REDIRECTED_FROM_LMS, allow_redirects=False
    ) as again:
        page = await again.text()
        assert again.status == 200, again.headers.get("Location")
    assert 'id="spawn_form"' in page
    assert "this link did not start “AI-101 · CPU” by itself" in page
    assert not (await hub_api.user("lti.student"))["servers"]


async def test_instructor_launch_lands_on_the_spawn_page_as_staff(lms, hub_api, browser):
    link = lms.prepare(
        user_id="lms-user-1",
        email="lti.prof@uni.example",
        roles=[INSTRUCTOR],
        context_id=CONTEXT,
        context_title="AI-101 Introduction to AI",
    )
    answer, body, _, _ = await browser.launch(link)
    assert answer.status == 302, body
    assert answer.headers["Location"] == "/hub/spawn"
    assert "course-ai-101-staff" in (await hub_api.user("lti.prof"))["groups"]


async def test_a_replayed_launch_is_refused(hub, lms, browser):
    answer, body, fields, cookies = await browser.launch(lms.prepare(**STUDENT))
    assert answer.status == 302, body
    # An attacker who captured the form post and the cookies posts them again.
    async with (
        aiohttp.ClientSession() as attacker,
        attacker.post(
            f"{hub.public_url}/hub/lti13/oauth_callback",
            data=fields,
            headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
            allow_redirects=False,
        ) as replay,
    ):
        page = await replay.text()
    assert replay.status == 403, page
    assert "Launch refused" in page
    assert "This launch was already used once" in page


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"issuer": "https://lms.evil.example"}, 401, "Invalid issuer"),
        ({"forged": True}, 401, "Signature verification failed"),
        ({"context_id": "canvas-course-999"}, 403, "Course not set up on this hub"),
        ({"roles": [MENTOR]}, 403, "Role not allowed"),
        ({"custom": {"environment": "tpu"}}, 403, "does not have (it has: cpu)"),
    ],
    ids=["wrong-issuer", "bad-signature", "unknown-course", "unknown-role", "unknown-env"],
)
async def test_bad_launches_get_a_clear_page(
    hub, lms, hub_api, browser, artifacts_dir, change, status, words
):
    launch = {**STUDENT, "user_id": "lms-user-99", "email": "mallory@uni.example", **change}
    answer, body, _, _ = await browser.launch(lms.prepare(**launch))
    assert answer.status == status, body
    assert answer.headers["Content-Type"].startswith("text/html")
    assert words in body
    assert "Traceback" not in body
    if change.get("context_id"):
        assert "canvas-course-999" in body, "the page names the context id to configure"
        (artifacts_dir / "lti-unknown-course.html").write_text(body)
    for name in ("mallory", "mallory@uni.example"):
        status_code, _ = await hub_api.request("GET", f"/users/{name}", hub.admin_token)
        assert status_code == 404, "a refused launch creates no user"


async def whoami(browser: Browser, hub: Platform) -> dict:
    """The hub's model of the user the browser's session cookie signs in."""
    async with browser.session.get(f"{hub.public_url}/hub/api/user") as answer:
        assert answer.status == 200, await answer.text()
        return await answer.json()


async def wait_for_group(hub_api: HubAPI, name: str, group: str, timeout: float = 20) -> dict:
    """The user's model once they are in ``group`` (course groups follow the catalog
    within a few seconds of a launch)."""
    deadline = time.monotonic() + timeout
    while True:
        user = await hub_api.user(name)
        if group in user["groups"]:
            return user
        assert time.monotonic() < deadline, f"{name} never joined {group}: {user['groups']}"
        await asyncio.sleep(0.5)


async def test_an_lms_email_does_not_take_a_course_files_instructor_name(
    hub, hub_api, lms, browser
):
    """Review §3: a student sets their LMS e-mail to J.Smith@attacker.example and launches
    before the instructor the course file lists as j.smith ever has."""
    launch = {**STUDENT, "user_id": "lms-user-66", "email": "J.Smith@attacker.example"}
    answer, body, _, _ = await browser.launch(lms.prepare(**launch))
    assert answer.status == 302, body
    me = await whoami(browser, hub)
    assert me["name"] != "j.smith", "the launch took the course file's instructor name"
    user = await wait_for_group(hub_api, me["name"], "course-ai-101-students")
    assert "course-ai-101-staff" not in user["groups"]


async def test_a_learner_sub_role_is_a_student(hub, hub_api, lms, browser):
    """Review §12: membership/Learner#Instructor is a kind of learner, not an instructor."""
    launch = {
        **STUDENT,
        "user_id": "lms-user-31",
        "email": "peer.tutor@uni.example",
        "roles": [f"{LIS}/Learner#Instructor"],
    }
    answer, body, _, _ = await browser.launch(lms.prepare(**launch))
    assert answer.status == 302, body
    me = await whoami(browser, hub)
    user = await wait_for_group(hub_api, me["name"], "course-ai-101-students")
    assert "course-ai-101-staff" not in user["groups"]


@pytest.mark.parametrize("how", [*sorted(CROSS_SITE), "no-fetch-metadata"])
async def test_a_spawn_link_from_another_site_shows_the_form(hub, hub_api, lms, browser, how):
    """Review §11: a forum post with <iframe src=".../hub/spawn?profile=..."> (or a link)
    must not start the student's server; they get the spawn form to confirm. So does a
    request without Sec-Fetch-* headers (an old browser, a script)."""
    answer, body, _, _ = await browser.launch(lms.prepare(**STUDENT))
    assert answer.status == 302, body
    name = (await whoami(browser, hub))["name"]
    headers = {**CROSS_SITE.get(how, {}), "Referer": "https://forum.example.org/t/42"}
    try:
        async with browser.session.get(
            f"{hub.public_url}/hub/spawn?profile=ai-101-cpu", headers=headers, allow_redirects=False
        ) as spawn:
            page = await spawn.text()
            assert spawn.status == 200, (spawn.status, spawn.headers.get("Location"))
        assert 'id="spawn_form"' in page
        assert not (await hub_api.user(name))["servers"], "a server was started"
    finally:
        if (await hub_api.user(name))["servers"]:
            await hub_api.stop(name)
            await hub_api.wait_stopped(name)


async def test_a_spawn_link_on_the_hubs_own_pages_starts_the_server(hub, hub_api, lms, browser):
    answer, body, _, _ = await browser.launch(lms.prepare(**STUDENT))
    assert answer.status == 302, body
    async with browser.session.get(
        f"{hub.public_url}/hub/spawn?profile=ai-101-cpu", headers=SAME_ORIGIN, allow_redirects=False
    ) as spawn:
        assert spawn.status == 302, await spawn.text()
        assert "/hub/spawn-pending/lti.student" in spawn.headers["Location"]
    await hub_api.wait_ready("lti.student")
    assert await hub_api.stop("lti.student") in (202, 204)
    await hub_api.wait_stopped("lti.student")


# Last: restarts the hub with other settings.
async def test_by_default_an_lms_email_proves_nothing_but_a_binding_does(
    hub, hub_api, lms, browser
):
    """Without COURSEHUB_LTI_TRUST_EMAIL the LMS's e-mail (which people can often change)
    neither names anyone nor proves the course file's address for j.smith; binding the
    LMS's user id to j.smith does."""
    hub.config.extra_hub_env.pop("COURSEHUB_LTI_TRUST_EMAIL")
    hub.config.extra_hub_env["COURSEHUB_IDENTITY_BINDINGS"] = json.dumps(
        {"j.smith": {"subject": "lms-user-5"}}
    )
    await asyncio.to_thread(hub.restart_hub)

    pretender = {**STUDENT, "user_id": "lms-user-8", "email": "J.Smith@uni.example"}
    answer, body, _, _ = await browser.launch(lms.prepare(**pretender))
    assert answer.status == 302, body
    name = (await whoami(browser, hub))["name"]
    assert re.fullmatch(r"user-[0-9a-f]{10}", name), name

    browser.session.cookie_jar.clear()
    real = {**STUDENT, "user_id": "lms-user-5", "email": "john@home.example", "roles": [LEARNER]}
    answer, body, _, _ = await browser.launch(lms.prepare(**real))
    assert answer.status == 302, body
    assert (await whoami(browser, hub))["name"] == "j.smith"
    await wait_for_group(hub_api, "j.smith", "course-ai-101-staff")
