"""Roster sync against a real hub, proxy, dev cluster and coursehub service.

Imports go through the proxy with real hub tokens, like the CLI (which is also run as a
subprocess); the effects are read back from the hub's REST API (groups, servers, spawns)
and the service's exchange. Nothing is restarted: a dropped student must lose access at
once. Every wait polls with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from factories import hub_courses
from hub_platform import HubAPI
from platforms import running_platform
from postgres import running_postgres
from sqlalchemy import inspect

from coursehub.catalog.roster import RosterRow
from coursehub.dev import Platform
from coursehub.service import memberships
from coursehub.service.db import Database

pytestmark = pytest.mark.integration

HUB_CLIENT_TOKEN = "hub-client-" + os.urandom(16).hex()
STUDENTS = "course-ai-101-students"
STAFF = "course-ai-101-staff"
FILE_STUDENTS = {"student1", "student2", "student3"}
USERS = ["instructor1", "instructor2", "student1", "student2", "student3", "student-ml1"]


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("rosters")
    with running_platform(
        root,
        artifacts_dir,
        "platform-test_rosters",
        *hub_courses(students=3),
        extra_hub_env={"COURSEHUB_DEV_HUB_CLIENT_TOKEN": HUB_CLIENT_TOKEN},
    ) as running:
        yield running


@pytest.fixture(scope="module")
async def hub_api(platform: Platform) -> AsyncIterator[HubAPI]:
    async with aiohttp.ClientSession() as session:
        yield HubAPI(platform, session)


@pytest.fixture(scope="module")
async def tokens(hub_api: HubAPI) -> dict[str, str]:
    issued = await asyncio.gather(*(hub_api.token_for(name) for name in USERS))
    return dict(zip(USERS, issued, strict=True))


class Service:
    """The coursehub service through the proxy, as the CLI reaches it."""

    def __init__(self, hub_api: HubAPI):
        self.hub_api = hub_api
        self.base = f"{hub_api.platform.public_url}/services/coursehub/api"

    async def call(self, method: str, path: str, token: str, *, data=None, json=None, **params):
        headers = {"Authorization": f"token {token}"}
        if data is not None:
            headers["Content-Type"] = "text/csv"
        async with self.hub_api.session.request(
            method, f"{self.base}/{path}", headers=headers, data=data, json=json, params=params
        ) as response:
            return response.status, await response.json(content_type=None)

    async def import_roster(self, token: str, csv: str | bytes, **params):
        data = csv.encode() if isinstance(csv, str) else csv
        return await self.call("PUT", "courses/ai-101/roster", token, data=data, **params)


@pytest.fixture(scope="module")
def service(hub_api) -> Service:
    return Service(hub_api)


async def group_members(hub_api: HubAPI, name: str) -> set[str]:
    status, group = await hub_api.request("GET", f"/groups/{name}", hub_api.platform.admin_token)
    assert status == 200, group
    return set(group["users"])


async def wait_for_group(hub_api: HubAPI, name: str, expected: set[str], timeout=30) -> None:
    deadline = time.monotonic() + timeout
    while (members := await group_members(hub_api, name)) != expected:
        assert time.monotonic() < deadline, f"{name} has {sorted(members)}, not {sorted(expected)}"
        await asyncio.sleep(0.3)


async def spawn_when_allowed(hub_api: HubAPI, name: str, profile: str, timeout=30) -> None:
    """Spawn once the hub's catalog allows it (the hub polls the service every ~2 s)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = await hub_api.spawn(name, profile)
        if status in (201, 202):
            await hub_api.wait_ready(name)
            return
        assert status == 403, (status, body)
        assert time.monotonic() < deadline, f"{name} still may not start {profile}: {body}"
        await asyncio.sleep(0.5)


async def refused_spawn(hub_api: HubAPI, name: str, profile: str, timeout=30) -> dict:
    """Spawn until the hub refuses; a server the hub still let start (before its next poll)
    is stopped and the spawn tried again. Returns the refusal."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = await hub_api.spawn(name, profile)
        if status == 403:
            return body
        assert time.monotonic() < deadline, f"{name} may still start {profile}: {body}"
        await hub_api.stop(name)
        await hub_api.wait_stopped(name)


@pytest.fixture
async def file_roster(service, hub_api, tokens):
    """Each test starts from the course file's roster, with the groups in step."""
    status, body = await service.call("DELETE", "courses/ai-101/roster", tokens["instructor1"])
    assert status in (200, 404), body
    await wait_for_group(hub_api, STUDENTS, FILE_STUDENTS)
    yield
    for name in ("student1", "student2", "student3", "newbie"):
        status, model = await hub_api.request("GET", f"/users/{name}", hub_api.platform.admin_token)
        if status == 200 and model.get("servers"):
            await hub_api.stop(name)
            await hub_api.wait_stopped(name)


GOOD_ROSTER = (
    "# registrar export\n"
    "username,email,name\n"
    "student1,student1@example.edu,Ada Lovelace\n"
    'newbie,newbie@example.edu,"Bie, New"\n'
    "student3,student3@example.edu,Grace Hopper\n"
)


async def test_an_import_adds_a_student_who_gets_the_group_and_spawns(
    service, hub_api, tokens, file_roster
):
    status, body = await service.import_roster(tokens["instructor1"], GOOD_ROSTER)
    assert status == 200, body
    assert (body["added"], body["removed"], body["unchanged"]) == (
        ["newbie"],
        ["student2"],
        ["student1", "student3"],
    )
    assert body["applied"] is True and body["students"] == 3 and body["skipped"] == []

    await wait_for_group(hub_api, STUDENTS, {"student1", "newbie", "student3"})
    assert await group_members(hub_api, STAFF) == {"instructor1"}
    await spawn_when_allowed(hub_api, "newbie", "ai-101-cpu")
    await hub_api.stop("newbie")
    await hub_api.wait_stopped("newbie")

    status, shown = await service.call("GET", "courses/ai-101/roster", tokens["instructor1"])
    assert status == 200 and shown["source"] == "import"
    assert shown["imported_by"] == "instructor1"
    newbie = next(row for row in shown["students"] if row["username"] == "newbie")
    assert newbie == {
        "username": "newbie",
        "email": "newbie@example.edu",
        "name": "Bie, New",
        "from": ["import"],
    }


BAD_ROSTER = (
    "username,email,name\n"  # 1
    "student1,student1@example.edu,Ada\n"  # 2
    "Student9,s9@example.edu,Shouting\n"  # 3
    "newbie,not-an-email,New\n"  # 4
    "instructor1,i1@example.edu,Teacher\n"  # 5
    "student1,again@example.edu,Ada again\n"  # 6
)


async def test_invalid_rows_are_listed_by_line_and_nothing_is_applied(
    service, hub_api, tokens, file_roster
):
    status, body = await service.import_roster(tokens["instructor1"], BAD_ROSTER)
    assert status == 400, body
    assert body["message"].startswith("ai-101 roster: 4 invalid row(s); nothing was applied")
    assert [(p["line"], p["field"]) for p in body["problems"]] == [
        (3, "username"),
        (4, "email"),
        (5, "username"),
        (6, "username"),
    ]
    assert "line 5: username: 'instructor1' is an instructor of ai-101" in body["message"]
    status, shown = await service.call("GET", "courses/ai-101/roster", tokens["instructor1"])
    assert shown["source"] == "file"
    assert {row["username"] for row in shown["students"]} == FILE_STUDENTS
    assert await group_members(hub_api, STUDENTS) == FILE_STUDENTS

    for data, message in [
        (b"", "the file is empty"),
        (b"login,mail\nstudent1,a@example.edu\n", "bad header: unknown column(s) 'login'"),
        (b"username,name\nstudent1,Ren\xe9\n", "not UTF-8 (byte 0xe9 on line 2)"),
    ]:
        status, body = await service.import_roster(tokens["instructor1"], data)
        assert status == 400 and message in body["message"], body
    status, shown = await service.call("GET", "courses/ai-101/roster", tokens["instructor1"])
    assert shown["source"] == "file"


async def test_skip_invalid_applies_the_valid_rows_and_lists_the_others(
    service, hub_api, tokens, file_roster
):
    status, body = await service.import_roster(tokens["instructor1"], BAD_ROSTER, skip_invalid="1")
    assert status == 200, body
    assert [(row["line"], row["field"]) for row in body["skipped"]] == [
        (3, "username"),
        (4, "email"),
        (5, "username"),
        (6, "username"),
    ]
    assert body["added"] == [] and body["unchanged"] == ["student1"]
    assert body["removed"] == ["student2", "student3"]
    await wait_for_group(hub_api, STUDENTS, {"student1"})
    assert await group_members(hub_api, STAFF) == {"instructor1"}


async def test_a_student_dropped_by_an_import_loses_access_at_once(
    service, hub_api, tokens, file_roster
):
    await spawn_when_allowed(hub_api, "student2", "ai-101-cpu")
    status, _ = await service.call("GET", "courses/ai-101/assignments", tokens["student2"])
    assert status == 200
    assert await hub_api.server_status("student2", tokens["instructor1"]) == 200
    _, listed = await hub_api.request("GET", "/users", tokens["instructor1"])
    assert "student2" in {user["name"] for user in listed}

    status, body = await service.import_roster(
        tokens["instructor1"], "username\nstudent1\nstudent3\n"
    )
    assert status == 200 and body["removed"] == ["student2"], body

    # The exchange refuses them from the very next request.
    status, body = await service.call("GET", "courses/ai-101/assignments", tokens["student2"])
    assert status == 403 and "student2 is not a member of ai-101" in body["message"]
    # The service stops their running server of the course ...
    await hub_api.wait_stopped("student2", timeout=30)
    # ... takes them out of the course group, so staff no longer reach or list them ...
    await wait_for_group(hub_api, STUDENTS, {"student1", "student3"})
    _, listed = await hub_api.request("GET", "/users", tokens["instructor1"])
    assert "student2" not in {user["name"] for user in listed}
    status, _ = await hub_api.spawn("student2", "ai-101-cpu", tokens["instructor1"])
    assert status in (403, 404)
    # ... and the hub refuses a new spawn of the course's environments.
    refusal = await refused_spawn(hub_api, "student2", "ai-101-cpu")
    assert "not enrolled in ai-101" in refusal["message"]
    # Other students keep working.
    status, _ = await service.call("GET", "courses/ai-101/assignments", tokens["student1"])
    assert status == 200


async def test_only_the_course_staff_and_admins_import(service, hub_api, tokens, file_roster):
    for caller in ("student1", "instructor2"):
        status, body = await service.import_roster(tokens[caller], GOOD_ROSTER)
        assert status == 403, body
        assert f"{caller} is not staff of ai-101: only its staff may do this" == body["message"]
        status, body = await service.call("GET", "courses/ai-101/roster", tokens[caller])
        assert status == 403, body
        status, body = await service.call("DELETE", "courses/ai-101/roster", tokens[caller])
        assert status == 403, body
    status, shown = await service.call("GET", "courses/ai-101/roster", tokens["instructor1"])
    assert shown["source"] == "file"
    status, body = await service.import_roster(
        hub_api.platform.admin_token, GOOD_ROSTER, dry_run="1"
    )
    assert status == 200 and body["applied"] is False and body["added"] == ["newbie"], body
    status, shown = await service.call("GET", "courses/ai-101/roster", tokens["instructor1"])
    assert shown["source"] == "file"  # a dry run changes nothing


async def test_sign_in_memberships_contract(service, hub_api, tokens):
    path = "users/idpuser/memberships"
    body = {"source": "oidc", "courses": {"ai-101": "student", "ml-201": "staff"}}
    for token in (tokens["student1"], tokens["instructor1"], hub_api.platform.admin_token):
        status, answer = await service.call("PUT", path, token, json=body)
        assert status == 403, answer
        assert "only the hub records memberships" in answer["message"]

    status, answer = await service.call("PUT", path, HUB_CLIENT_TOKEN, json=body)
    assert status == 200, answer
    assert answer == {"username": "idpuser", "courses": {"ai-101": "student", "ml-201": "staff"}}
    await wait_for_group(hub_api, "course-ml-201-staff", {"instructor2", "idpuser"})
    assert "idpuser" in await group_members(hub_api, STUDENTS)

    bad = {"source": "oidc", "courses": {"ai-101": "staff", "nope-101": "student", "x-1": "staff"}}
    status, answer = await service.call("PUT", path, HUB_CLIENT_TOKEN, json=bad)
    assert status == 400 and "unknown course id(s): nope-101, x-1" in answer["message"]
    for wrong in (
        {"source": "saml", "courses": {}},
        {"source": "lti", "courses": {"ai-101": "teacher"}},
        {"source": "lti", "courses": ["ai-101"]},
    ):
        status, answer = await service.call("PUT", path, HUB_CLIENT_TOKEN, json=wrong)
        assert status == 400, (wrong, answer)
    status, answer = await service.call("GET", path, HUB_CLIENT_TOKEN)
    assert answer["courses"] == {"ai-101": "student", "ml-201": "staff"}  # nothing applied

    # Each call replaces the user's rows of that source; other sources stay.
    status, answer = await service.call(
        "PUT", path, HUB_CLIENT_TOKEN, json={"source": "lti", "courses": {"ml-201": "student"}}
    )
    assert answer["courses"] == {"ai-101": "student", "ml-201": "staff"}  # staff wins
    status, answer = await service.call(
        "PUT", path, HUB_CLIENT_TOKEN, json={"source": "oidc", "courses": {"ai-101": "staff"}}
    )
    assert status == 200
    assert answer["courses"] == {"ai-101": "staff", "ml-201": "student"}
    await wait_for_group(hub_api, "course-ml-201-staff", {"instructor2"})
    await wait_for_group(hub_api, STAFF, {"instructor1", "idpuser"})
    assert "idpuser" in await group_members(hub_api, "course-ml-201-students")
    assert "idpuser" not in await group_members(hub_api, STUDENTS)
    await spawn_when_allowed(hub_api, "idpuser", "ml-201-cpu")
    await hub_api.stop("idpuser")
    await hub_api.wait_stopped("idpuser")

    status, answer = await service.call("GET", "memberships", tokens["student1"])
    assert status == 403, answer
    status, answer = await service.call("GET", "memberships", HUB_CLIENT_TOKEN)
    assert status == 200 and "@" not in str(answer["overlay"])  # no emails for the hub
    status, again = await service.call(
        "GET", "memberships", HUB_CLIENT_TOKEN, since=answer["version"]
    )
    assert again == {"version": answer["version"], "unchanged": True}

    for source in ("oidc", "lti"):  # leave idpuser in no course
        await service.call("PUT", path, HUB_CLIENT_TOKEN, json={"source": source, "courses": {}})
    await wait_for_group(hub_api, STAFF, {"instructor1"})


def cli(platform: Platform, token: str, *args: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "COURSEHUB_TOKEN": token}
    environ.pop("COURSEHUB_HUB_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "coursehub", "roster", *args, "--hub-url", platform.public_url],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_cli_imports_shows_and_clears(platform, hub_api, tokens, tmp_path, file_roster):
    good = tmp_path / "roster.csv"
    good.write_text(GOOD_ROSTER)
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_ROSTER)
    token = tokens["instructor1"]

    result = await asyncio.to_thread(cli, platform, token, "import", "ai-101", str(bad))
    assert result.returncode == 1, result
    assert "4 invalid row(s); nothing was applied" in result.stderr
    assert "(HTTP 400)" in result.stderr
    assert "  line 3: username: username 'Student9' is not valid: write 'student9'" in (
        result.stderr.splitlines()
    )

    result = await asyncio.to_thread(cli, platform, token, "import", "ai-101", str(good))
    assert result.returncode == 0, result.stderr
    assert "ai-101: imported 3 student row(s) from roster.csv" in result.stdout
    assert "  added (1): newbie" in result.stdout
    assert "  removed (1): student2" in result.stdout
    assert "  unchanged (2): student1, student3" in result.stdout
    await wait_for_group(hub_api, STUDENTS, {"student1", "newbie", "student3"})

    result = await asyncio.to_thread(
        cli, platform, token, "import", "ai-101", str(bad), "--skip-invalid"
    )
    assert result.returncode == 0, result.stderr
    assert "skipped 4 invalid row(s):" in result.stdout
    assert "  line 4: email: email 'not-an-email' is not an email address" in result.stdout

    result = await asyncio.to_thread(cli, platform, token, "show", "ai-101")
    assert result.returncode == 0, result.stderr
    assert "imported by instructor1" in result.stdout and "from bad.csv" in result.stdout
    assert "student1" in result.stdout and "instructor1" in result.stdout

    result = await asyncio.to_thread(cli, platform, tokens["student1"], "show", "ai-101")
    assert result.returncode == 1 and "not staff of ai-101" in result.stderr

    result = await asyncio.to_thread(cli, platform, token, "clear", "ai-101")
    assert result.returncode == 0, result.stderr
    assert "  added (2): student2, student3" in result.stdout
    await wait_for_group(hub_api, STUDENTS, FILE_STUDENTS)

    result = await asyncio.to_thread(
        cli, platform, token, "import", "ai-101", str(tmp_path / "missing.csv")
    )
    assert result.returncode == 2 and "cannot read" in result.stderr


async def test_staff_remove_a_member_from_the_import_and_sign_in(
    platform, service, hub_api, tokens, file_roster
):
    status, _ = await service.call(
        "PUT",
        "users/ltistudent/memberships",
        HUB_CLIENT_TOKEN,
        json={"source": "lti", "courses": {"ai-101": "student"}},
    )
    assert status == 200
    status, body = await service.import_roster(tokens["instructor1"], GOOD_ROSTER)
    assert status == 200, body
    await wait_for_group(hub_api, STUDENTS, {"student1", "newbie", "student3", "ltistudent"})

    token = tokens["instructor1"]
    result = await asyncio.to_thread(
        cli, platform, token, "remove", "ai-101", "ltistudent", "newbie"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ai-101: removed ltistudent (from: lti)",
        "ai-101: removed newbie (from: import)",
    ]
    await wait_for_group(hub_api, STUDENTS, {"student1", "student3"})
    status, answer = await service.call("GET", "users/ltistudent/memberships", HUB_CLIENT_TOKEN)
    assert answer["courses"] == {} and answer["sign_in"] == []

    # Nobody, a student only the course file lists, a caller who is not staff.
    status, body = await service.call("DELETE", "courses/ai-101/members/nobody", token)
    assert status == 404 and body["message"] == "nobody is not a member of ai-101"
    await service.call("DELETE", "courses/ai-101/roster", token)
    result = await asyncio.to_thread(cli, platform, token, "remove", "ai-101", "student2")
    assert result.returncode == 1
    assert "still a student of ai-101 through its course file" in result.stdout
    status, body = await service.call(
        "DELETE", "courses/ai-101/members/student3", tokens["student1"]
    )
    assert status == 403 and "not staff of ai-101" in body["message"]
    await wait_for_group(hub_api, STUDENTS, FILE_STUDENTS)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> Iterator[Database]:
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            url = stack.enter_context(running_postgres())
        else:
            url = f"sqlite:///{tmp_path / 'service.sqlite'}"
        db = Database(url)
        stack.callback(db.close)
        db.upgrade()
        yield db


async def test_membership_tables_on_sqlite_and_postgresql(database):
    assert {"roster_imports", "roster_students", "idp_memberships"} <= set(
        inspect(database.engine).get_table_names()
    )
    source = memberships.database_overlay_source(database)
    assert not await source()  # empty overlay at first ...
    assert await source() is None  # ... then "unchanged" until something changes
    now = datetime.now(UTC)
    rows = [RosterRow(3, "zoë", "zoe@example.edu", "Zoë Ñandú"), RosterRow(2, "adam")]
    await database.run(lambda s: memberships.replace_roster(s, "ai-101", rows, "teach", now))
    await database.run(
        lambda s: memberships.replace_memberships(s, "eve", "lti", {"ai-101": "staff"}, now)
    )
    overlay = await source()
    assert overlay.roster("ai-101").usernames == ["zoë", "adam"]  # the file's order
    assert overlay.roster("ai-101").entries[0].name == "Zoë Ñandú"
    assert [(m.username, m.role) for m in overlay.memberships] == [("eve", "staff")]
    await database.run(lambda s: memberships.replace_roster(s, "ai-101", rows[1:], "teach", now))
    assert (await source()).roster("ai-101").usernames == ["adam"]
    await database.run(
        lambda s: memberships.replace_memberships(s, "adam", "oidc", {"ai-101": "student"}, now)
    )
    removed = await database.run(lambda s: memberships.remove_member(s, "ai-101", "adam"))
    assert removed == ["import", "oidc"]
    assert await database.run(lambda s: memberships.remove_member(s, "ai-101", "adam")) == []
    overlay = await source()
    assert overlay.roster("ai-101").usernames == [] and len(overlay.memberships) == 1
    assert await database.run(lambda s: memberships.clear_roster(s, "ai-101")) is True
    assert await database.run(lambda s: memberships.clear_roster(s, "ai-101")) is False
    assert (await source()).rosters == ()
