"""Tokens that notebook servers hold cannot act as staff or admin in the coursehub service,
and course staff reach only their own course's students (review 2026-12, findings 2 and 4).

The attack, as the review describes it: a student asks their TA (and an admin) to "have a
look at my notebook". The visit goes through the hub's real OAuth flow (sign-in form,
the "Authorize access" page, the server's callback), which leaves the visitor's OAuth token
in the student's server (in its ``jupyterhub-user-<name>`` cookie, which the student's
server reads). Together with the tokens the servers were started with
(``JUPYTERHUB_API_TOKEN``, read from the server processes), it is tried against every staff
and admin endpoint of the service: each must answer 403 with a sentence. The same
endpoints answer the staff's and the admin's own tokens (from the hub's token API, as
from the Token page), so the 403s are about the tokens, not broken endpoints.

The catalog:
- ai-101: instructor1; students student1, student2, student3, ta2 and admin;
- ml-201: instructor2 and the TA ta2; students student-ml1 and student3.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from factories import hub_courses
from hub_platform import HubAPI
from platforms import running_platform
from staff_endpoints import ADMIN, HUB_ONLY, OTHER, STAFF, Endpoint
from yarl import URL

from coursehub.dev import Platform

pytestmark = pytest.mark.integration

SERVERS = ("student1", "ta2", "admin")


def catalog() -> list[dict]:
    ai101, ml201 = hub_courses(students=3)
    ai101["students"] += ["ta2", "admin"]
    due = "2099-01-01T00:00:00Z"
    ai101["assignments"] = [{"name": "ps1", "title": "Problem set 1", "due": due}]
    ml201["staff"]["tas"] = ["ta2"]
    ml201["students"].append("student3")
    ml201["assignments"] = [{"name": "lab1", "title": "Lab 1", "due": due}]
    return [ai101, ml201]


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("staff-scopes")
    with running_platform(root, artifacts_dir, "platform-staff-scopes", *catalog()) as running:
        yield running


@pytest.fixture(scope="module")
async def hub_api(platform: Platform) -> AsyncIterator[HubAPI]:
    async with aiohttp.ClientSession() as session:
        yield HubAPI(platform, session)


@pytest.fixture(scope="module")
async def servers(hub_api: HubAPI) -> AsyncIterator[None]:
    """student1's, ta2's and admin's servers, started with the dev admin token."""
    for name in SERVERS:
        status, body = await hub_api.spawn(name, "ai-101-cpu")
        assert status in (201, 202), (name, body)
    for name in SERVERS:
        await hub_api.wait_ready(name)
    yield
    for name in SERVERS:
        await hub_api.stop(name)
    for name in SERVERS:
        await hub_api.wait_stopped(name)


class Browser:
    """What a person's browser does: sign in with the hub's form, follow redirects, keep
    cookies, and click "Authorize" on the hub's OAuth confirmation page."""

    def __init__(self, platform: Platform):
        self.base = platform.public_url
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def sign_in(self, username: str, password: str) -> None:
        async with self.session.get(f"{self.base}/hub/login") as page:
            xsrf = hidden_fields(await page.text())["_xsrf"]
        form = {"username": username, "password": password, "_xsrf": xsrf}
        async with self.session.post(
            f"{self.base}/hub/login", data=form, allow_redirects=False
        ) as answer:
            assert answer.status == 302, await answer.text()

    async def open_server(self, owner: str) -> tuple[int, str]:
        """Open ``/user/<owner>/lab``; authorize the server if the hub asks. Returns the
        final status and page."""
        async with self.session.get(f"{self.base}/user/{owner}/lab") as page:
            status, text, url = page.status, await page.text(), page.url
        if status == 200 and 'name="scopes"' in text:  # the hub's "Authorize access" page
            fields = hidden_fields(text)
            fields["scopes"] = re.findall(r'name="scopes" value="([^"]*)"', text)
            async with self.session.post(url, data=fields) as page:
                status, text = page.status, await page.text()
        return status, text

    def server_cookie_token(self, owner: str) -> str:
        """The visitor's OAuth token, as ``owner``'s server reads it from its login cookie
        (a signed, not encrypted, Tornado cookie: the server holds the key anyway)."""
        cookies = self.session.cookie_jar.filter_cookies(URL(f"{self.base}/user/{owner}/"))
        morsel = cookies[f"jupyterhub-user-{owner}"]
        return signed_cookie_value(morsel.value).decode()

    async def close(self) -> None:
        await self.session.close()


def hidden_fields(page: str) -> dict:
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        if 'type="hidden"' not in tag:
            continue
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and value and name.group(1) != "scopes":
            fields[name.group(1)] = html.unescape(value.group(1))
    return fields


def signed_cookie_value(cookie: str) -> bytes:
    """The value of a Tornado v2 signed cookie: ``2|1:0|<len>:<time>|<len>:<name>|<len>:
    <base64 value>|<signature>``."""
    parts = cookie.strip('"').split("|")
    assert parts[0] == "2", cookie
    return base64.b64decode(parts[4].split(":", 1)[1])


def process_api_token(platform: Platform, variable: str, value: str) -> str:
    """``JUPYTERHUB_API_TOKEN`` of the process whose environment has ``variable=value``
    (dev pods and managed services are local processes), as anyone with a terminal there
    reads it. Only processes of this platform's hub count: another test's platform on the
    same machine may run a server for the same user."""
    hub_api = platform.hub_url.encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            variables = dict(
                entry.split(b"=", 1) for entry in environ.read_bytes().split(b"\0") if b"=" in entry
            )
        except OSError:
            continue
        if (
            variables.get(variable.encode()) == value.encode()
            and b"JUPYTERHUB_API_TOKEN" in variables
            and variables.get(b"JUPYTERHUB_API_URL", b"").startswith(hub_api)
        ):
            return variables[b"JUPYTERHUB_API_TOKEN"].decode()
    raise AssertionError(f"no process with {variable}={value} found")


def server_api_token(platform: Platform, owner: str) -> str:
    return process_api_token(platform, "JUPYTERHUB_USER", owner)


@pytest.fixture(scope="module")
async def visits(platform: Platform, servers) -> AsyncIterator[dict[str, str]]:
    """instructor1 and admin open student1's server; the tokens that leaves behind there,
    and the tokens the servers of student1, ta2 and admin were started with."""
    passwords = platform.passwords()
    found = {}
    for visitor in ("instructor1", "admin"):
        browser = Browser(platform)
        try:
            await browser.sign_in(visitor, passwords[visitor])
            status, page = await browser.open_server("student1")
            assert status == 200, (visitor, status, page[:500])
            found[f"{visitor}'s OAuth token left in student1's server"] = (
                browser.server_cookie_token("student1")
            )
        finally:
            await browser.close()
    for owner in SERVERS:
        found[f"{owner}'s server token"] = server_api_token(platform, owner)
    yield found


@pytest.fixture(scope="module")
async def own_tokens(hub_api: HubAPI) -> dict[str, str]:
    """Tokens people make for themselves (the hub's Token page; the CLI's COURSEHUB_TOKEN)."""
    names = ("instructor1", "instructor2", "admin", "student1")
    return {name: await hub_api.token_for(name) for name in names}


async def call(
    session: aiohttp.ClientSession, platform: Platform, endpoint: Endpoint, token: str
) -> tuple[int, str]:
    base = platform.public_url + "/services/coursehub"
    url = base + endpoint.path if endpoint.path.startswith("/") else f"{base}/api/{endpoint.path}"
    headers = {"Authorization": f"token {token}"}
    async with session.request(
        endpoint.method,
        url,
        data=endpoint.body,
        json=endpoint.json,
        headers=headers,
        allow_redirects=False,
    ) as response:
        return response.status, await response.text()


def message_of(text: str) -> str:
    try:
        return json.loads(text)["message"]
    except (ValueError, KeyError, TypeError):
        match = re.search(r"<p[^>]*>(.*?)</p>", text, re.S)
        return html.unescape(match.group(1)).strip() if match else text


def test_every_endpoint_is_classified():
    """The tables cover every handler method of the service, so a new endpoint must be
    classified (and so tested) before this passes."""
    from tornado.web import RequestHandler

    from coursehub.service.app import routes
    from coursehub.service.usage_page import page_routes

    implemented = {
        (route[1].__name__, method)
        for route in routes("/", None) + page_routes("/", None, None)  # type: ignore[arg-type]
        for method in ("get", "post", "put", "delete", "patch")
        if getattr(route[1], method) is not getattr(RequestHandler, method)
    }
    classified = {(e.handler, e.method.lower()) for e in STAFF + ADMIN + HUB_ONLY} | set(OTHER)
    assert implemented - classified == set(), "classify these in staff_endpoints.py"
    assert classified - implemented == set(), "these are classified but do not exist"


async def test_tokens_held_by_servers_cannot_act_as_staff_or_admin(platform, visits):
    """The attack: every token found in or for the servers against every staff, admin and
    hub-only endpoint."""
    accepted = []
    async with aiohttp.ClientSession() as session:
        for source, token in visits.items():
            for endpoint in STAFF + ADMIN + HUB_ONLY:
                status, text = await call(session, platform, endpoint, token)
                message = message_of(text)
                if status != 403 or len(message.split()) < 5:
                    accepted.append(f"{source}: {endpoint} -> {status} {message[:160]!r}")
    assert accepted == [], "\n".join(accepted)


async def test_the_refusal_says_what_to_use_instead(platform, visits):
    oauth = visits["instructor1's OAuth token left in student1's server"]
    server = visits["ta2's server token"]
    async with aiohttp.ClientSession() as session:
        status, text = await call(session, platform, STAFF[11], oauth)  # ai-101 status
        assert status == 403
        assert "access:services!service=coursehub" in message_of(text)
        assert "Token page" in message_of(text)
        ml201 = Endpoint("GET", "courses/ml-201/assignments/lab1/status", "StatusHandler", 200)
        status, text = await call(session, platform, ml201, server)
        assert status == 403
        assert "custom:coursehub:staff" in message_of(text)
        assert "Token page" in message_of(text) and "COURSEHUB_TOKEN" in message_of(text)


async def test_own_tokens_of_staff_and_admins_still_work(platform, own_tokens):
    """The control: the same endpoints answer the people's own tokens (past the
    permission check: 200, or 400/404/409 for the harmless bodies and names used)."""
    wrong = []
    async with aiohttp.ClientSession() as session:
        for name, endpoints in (("instructor1", STAFF), ("admin", STAFF + ADMIN)):
            for endpoint in endpoints:
                status, text = await call(session, platform, endpoint, own_tokens[name])
                if status != endpoint.control:
                    wrong.append(f"{name}: {endpoint} -> {status} {message_of(text)[:160]!r}")
    assert wrong == [], "\n".join(wrong)


async def test_server_tokens_keep_their_owners_own_work(platform, visits, own_tokens):
    """What the exchange plugin in a student's server does keeps working with the
    server's token; a student's own token is still no staff token."""
    token = visits["student1's server token"]
    async with aiohttp.ClientSession() as session:
        for path in ("me", "courses/ai-101/assignments", "gpu/notices", "gpu/availability"):
            status, text = await call(session, platform, Endpoint("GET", path, "", 200), token)
            assert status == 200, (path, text)
        status, text = await call(session, platform, STAFF[11], own_tokens["student1"])
        assert status == 403 and "student1 is not staff of ai-101" in message_of(text)


async def test_a_formgraders_token_acts_as_staff_of_its_course_only(platform):
    token = process_api_token(platform, "JUPYTERHUB_SERVICE_NAME", "grader-ai-101")
    ml201 = Endpoint("GET", "courses/ml-201/assignments/lab1/status", "StatusHandler", 200)
    async with aiohttp.ClientSession() as session:
        status, text = await call(session, platform, STAFF[11], token)  # ai-101 status
        assert status == 200, text
        status, text = await call(session, platform, ml201, token)
        assert status == 403 and "is not staff of ml-201" in message_of(text), text


async def test_staff_cannot_open_servers_of_staff_elsewhere_or_admins(
    platform, hub_api, servers, own_tokens
):
    """ta2 (a student of ai-101 and a TA of ml-201) and admin (a student of ai-101) are
    out of ai-101's staff's reach, in the browser and with an API token; student1 is not."""
    browser = Browser(platform)
    try:
        await browser.sign_in("instructor1", platform.passwords()["instructor1"])
        for owner, expected in (("student1", 200), ("ta2", 403), ("admin", 403)):
            status, page = await browser.open_server(owner)
            assert status == expected, (owner, status, page[:300])
    finally:
        await browser.close()
    token = own_tokens["instructor1"]
    assert await hub_api.server_status("student1", token) == 200
    assert await hub_api.server_status("ta2", token) == 403
    assert await hub_api.server_status("admin", token) == 403


async def test_staff_start_a_shared_students_server_only_with_their_courses_profiles(
    hub_api, own_tokens
):
    """student3 takes ai-101 and ml-201: ml-201's instructor may start student3's server
    with ml-201's environments only."""
    token = own_tokens["instructor2"]
    status, body = await hub_api.spawn("student3", "ai-101-cpu", token)
    assert status == 403, body
    assert "ai-101" in body["message"] and "instructor2" in body["message"], body
    assert not (await hub_api.user("student3")).get("servers")
    status, body = await hub_api.spawn("student3", "ml-201-cpu", token)
    assert status in (201, 202), body
    await hub_api.wait_ready("student3")
    assert await hub_api.stop("student3", token) in (202, 204)
    await hub_api.wait_stopped("student3")


async def test_staff_cannot_stop_servers_of_staff_elsewhere_or_admins(hub_api, servers, own_tokens):
    for owner in ("ta2", "admin"):
        # the hub answers 404 for a user the token may not see (it does not say who exists)
        assert await hub_api.stop(owner, own_tokens["instructor1"]) in (403, 404), owner
        assert (await hub_api.user(owner))["servers"][""]["ready"], owner


async def test_roster_import_refuses_staff_of_any_course_and_admins(hub_api, platform, own_tokens):
    data = b"username\nstudent1\ninstructor2\nadmin\nstudent2\n"
    async with aiohttp.ClientSession() as session:
        endpoint = Endpoint("PUT", "courses/ai-101/roster", "RosterHandler", 400, body=data)
        status, text = await call(session, platform, endpoint, own_tokens["instructor1"])
    assert status == 400, text
    body = json.loads(text)
    problems = {(p["line"], p["field"]): p["message"] for p in body["problems"]}
    assert set(problems) == {(3, "username"), (4, "username")}, problems
    assert "staff of ml-201" in problems[(3, "username")]
    assert "hub admin" in problems[(4, "username")]
    assert "nothing was applied" in body["message"]
    user = await hub_api.user("instructor2")
    assert "course-ai-101-students" not in user["groups"]
