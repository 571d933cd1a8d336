"""Extensions through the real service (hub, proxy, dev cluster, SQLite): staff grant a
student more time through the API and the CLI; late is judged against it by the service's
clock (moved through ``COURSEHUB_DEV_CLOCK_OFFSET_FILE``); the record says who, when and
why; collect and the gradebook's late penalty follow it; a student sees only their own;
another course's TA and a student are refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from factories import hub_courses
from gpu_platform import CLOCK_VARIABLE, move_clock
from hub_platform import HubAPI
from platforms import running_platform
from service_calls import ServiceCalls, archive, notebook

from coursehub.dev import Platform

pytestmark = pytest.mark.integration

# ps1 is due an hour after the tests start; the clock is moved past it below.
DUE = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
USERS = ["instructor1", "ta-ml", "student1", "student2", "student3"]
PS1 = "courses/ai-101/assignments/ps1"


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("extensions")
    ai101, ml201 = hub_courses(students=3)
    ai101["assignments"] = [
        {"name": "ps1", "title": "Problem set 1", "due": DUE.isoformat()},
        {"name": "ps2", "title": "Problem set 2", "due": DUE.isoformat()},
    ]
    ml201["staff"]["tas"] = ["ta-ml"]
    clock = root / "clock-offset"
    clock.write_text("0")
    with running_platform(
        root,
        artifacts_dir,
        "platform-extensions",
        ai101,
        ml201,
        extra_hub_env={CLOCK_VARIABLE: str(clock)},
    ) as running:
        yield running


@pytest.fixture(scope="module")
async def tokens(platform: Platform) -> dict[str, str]:
    async with aiohttp.ClientSession() as session:
        hub = HubAPI(platform, session)
        return {name: await hub.token_for(name) for name in USERS}


@pytest.fixture(scope="module")
async def calls(platform: Platform) -> AsyncIterator[ServiceCalls]:
    async with aiohttp.ClientSession() as session:
        yield ServiceCalls(session, platform.service_url)


def coursehub_cli(platform: Platform, token: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "coursehub", *args, "--hub-url", platform.public_url],
        env={**os.environ, "COURSEHUB_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
async def released(calls: ServiceCalls, tokens) -> None:
    release = archive({"ps1.ipynb": notebook("# your answer")})
    for name in ("ps1", "ps2"):
        status, body = await calls.call(
            "PUT", f"courses/ai-101/assignments/{name}/release", tokens["instructor1"], release
        )
        assert status == 201, body


async def test_refusals_name_who_may_grant(calls, tokens, released):
    grant = {"student": "student1", "minutes": 120, "reason": "illness"}
    status, body = await calls.call("POST", f"{PS1}/extensions", tokens["ta-ml"], payload=grant)
    assert status == 403 and "ta-ml is not staff of ai-101" in body["message"]
    status, body = await calls.call(
        "POST", "courses/ai-101/extensions", tokens["student2"], payload=grant
    )
    assert status == 403 and "student2 is not staff of ai-101" in body["message"]
    status, body = await calls.call(
        "POST", f"{PS1}/extensions", tokens["instructor1"], payload={**grant, "student": "nobody"}
    )
    assert status == 404 and "nobody is not a student of ai-101" in body["message"]
    status, body = await calls.call(
        "POST", f"{PS1}/extensions", tokens["instructor1"], payload={**grant, "reason": ""}
    )
    assert status == 400 and "'reason' is required" in body["message"]
    status, body = await calls.call("GET", "courses/ai-101/extensions", tokens["instructor1"])
    assert status == 200 and body["extensions"] == []  # nothing was granted


async def test_late_is_judged_against_the_extension_by_the_services_clock(
    platform, calls, tokens, released
):
    status, granted = await calls.call(
        "POST",
        f"{PS1}/extensions",
        tokens["instructor1"],
        payload={"student": "student1", "minutes": 180, "reason": "medical certificate"},
    )
    assert status == 201, granted
    assert (granted["student"], granted["assignment"], granted["minutes"]) == (
        "student1",
        "ps1",
        180,
    )
    assert granted["granted_by"] == "instructor1" and granted["reason"] == "medical certificate"
    granted_at = datetime.fromisoformat(granted["granted_at"])
    assert abs(granted_at - datetime.now(UTC)) < timedelta(minutes=5)

    move_clock(platform, 2 * 3600)  # two hours on: past the course's due date, not hers
    on_time = await calls.submit("ai-101", "ps1", tokens["student1"], archive({"a": b"1"}))
    late = await calls.submit("ai-101", "ps1", tokens["student2"], archive({"a": b"2"}))
    assert on_time[0] == 201 and late[0] == 201
    assert on_time[1]["late"] is False and late[1]["late"] is True
    assert datetime.fromisoformat(on_time[1]["submitted_at"]) > DUE  # the service's clock

    status, report = await calls.call("GET", f"{PS1}/status", tokens["instructor1"])
    rows = {row["student"]: row for row in report["students"]}
    assert (rows["student1"]["late"], rows["student2"]["late"]) == (False, True)
    assert datetime.fromisoformat(rows["student1"]["due"]) == DUE + timedelta(hours=3)
    assert datetime.fromisoformat(rows["student2"]["due"]) == DUE

    # The gradebook keeps her extension after collect: nbgrader's penalty follows it.
    status, collected = await calls.call("POST", f"{PS1}/actions/collect", tokens["instructor1"])
    assert status == 200, collected
    assert {row["student"]: row["late"] for row in collected["collected"]} == {
        "student1": False,
        "student2": True,
    }
    # DUE is fixed when the module loads, so how late she is depends on how long the run took
    # to get here: nbgrader's lateness is her submission's service time minus the due date.
    late_by = (datetime.fromisoformat(late[1]["submitted_at"]) - DUE).total_seconds()
    assert late_by > 3600
    assert gradebook_lateness(platform) == {
        "student1": 0,
        "student2": pytest.approx(late_by, abs=1),
    }


def gradebook_lateness(platform: Platform) -> dict[str, float]:
    """Seconds late per student of ps1 as nbgrader's gradebook says (what its
    AssignLatePenalties reads), after recording the collected submission times as
    autograde does."""
    code = (
        "import json, sys\n"
        "from nbgrader.api import Gradebook\n"
        "from nbgrader.utils import parse_utc\n"
        "root = sys.argv[1]\n"
        "late = {}\n"
        "with Gradebook('sqlite:///' + root + '/gradebook.db') as gradebook:\n"
        "    for student in ('student1', 'student2'):\n"
        "        stamp = open(f'{root}/submitted/{student}/ps1/timestamp.txt').read()\n"
        "        row = gradebook.update_or_create_submission(\n"
        "            'ps1', student, timestamp=parse_utc(stamp))\n"
        "        late[student] = row.total_seconds_late\n"
        "print(json.dumps(late))\n"
    )
    root = platform.config.state_dir / "service" / "workspaces" / "ai-101"
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [sys.executable, "-c", code, str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_a_student_sees_only_their_own_extension(calls, tokens, released):
    status, own = await calls.call("GET", "courses/ai-101/assignments", tokens["student1"])
    assert status == 200
    ps1 = {item["name"]: item for item in own["assignments"]}["ps1"]
    assert datetime.fromisoformat(ps1["due"]) == DUE + timedelta(hours=3)
    assert datetime.fromisoformat(ps1["extension"]["course_due"]) == DUE

    status, other = await calls.call("GET", "courses/ai-101/assignments", tokens["student2"])
    ps1 = {item["name"]: item for item in other["assignments"]}["ps1"]
    assert ps1["extension"] is None and datetime.fromisoformat(ps1["due"]) == DUE
    assert "student1" not in str(other)

    status, body = await calls.call("GET", "courses/ai-101/extensions", tokens["student2"])
    assert status == 200 and body["extensions"] == []
    status, body = await calls.call(
        "GET", "courses/ai-101/extensions", tokens["student2"], params={"student": "student1"}
    )
    assert status == 403 and "only see their own extensions" in body["message"]
    status, body = await calls.call("GET", "courses/ai-101/extensions", tokens["student1"])
    assert [row["reason"] for row in body["extensions"]] == ["medical certificate"]


async def test_the_cli_grants_an_accommodation_lists_and_revokes(platform, calls, tokens, released):
    granted = coursehub_cli(
        platform,
        tokens["instructor1"],
        "assignment",
        "extend-all",
        "ai-101",
        "student3",
        "--minutes",
        "240",
        "--reason",
        "accommodation letter",
    )
    assert granted.returncode == 0, granted.stderr
    assert "student3 on every assignment: +240 min, granted by instructor1" in granted.stdout

    # ps2 is past due for the others (the clock moved two hours), not for student3.
    status, body = await calls.submit("ai-101", "ps2", tokens["student3"], archive({"a": b"3"}))
    assert status == 201 and body["late"] is False

    refused = coursehub_cli(
        platform,
        tokens["ta-ml"],
        "assignment",
        "extend",
        "ai-101",
        "ps1",
        "student3",
        "--until",
        "2030-01-01T00:00:00Z",
        "--reason",
        "x",
    )
    assert refused.returncode == 1 and "ta-ml is not staff of ai-101" in refused.stderr

    listed = coursehub_cli(platform, tokens["instructor1"], "assignment", "extensions", "ai-101")
    assert listed.returncode == 0, listed.stderr
    assert "medical certificate" in listed.stdout and "accommodation letter" in listed.stdout
    number = next(line.split()[0] for line in listed.stdout.splitlines() if "accommodation" in line)

    status, revoked = await calls.call(
        "DELETE", f"courses/ai-101/extensions/{number}", tokens["ta-ml"]
    )
    assert status == 403
    status, revoked = await calls.call(
        "DELETE", f"courses/ai-101/extensions/{number}", tokens["instructor1"]
    )
    assert status == 200 and revoked["revoked_by"] == "instructor1"
    status, body = await calls.submit("ai-101", "ps2", tokens["student3"], archive({"a": b"4"}))
    assert status == 201 and body["late"] is True
    status, body = await calls.call(
        "GET", "courses/ai-101/extensions", tokens["instructor1"], params={"revoked": "1"}
    )
    kept = {row["reason"]: row for row in body["extensions"]}
    assert kept["accommodation letter"]["revoked_at"] is not None  # the record stays
