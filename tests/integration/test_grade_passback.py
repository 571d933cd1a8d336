"""Grade passback (LTI Advantage AGS) from the real service to a real LTI 1.3 platform.

The platform is ``lti_platform.LTIPlatform`` (PyPI ``lti1p3platform``): it signs the
launches that sign people in (carrying the AGS claim), verifies the tool's signed
client-credentials request against the JWKS the coursehub service publishes, checks the
bearer token of every AGS request and keeps the line items and scores it is sent. The hub
runs ``CourseLTIAuthenticator``; the service has the tool's key and the platform's token
URL (``COURSEHUB_LMS_*``).

The scores come from the course's nbgrader gradebook, written with nbgrader's own
``Gradebook`` API as a grader would in the formgrader (autograding itself is tested in
``test_assignments_e2e``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import jwt
import pytest
from factories import small
from hub_platform import HubAPI
from lti_platform import CLIENT_ID, INSTRUCTOR, LEARNER, LTIPlatform, form_fields, pem_pair
from platforms import running_platform

from coursehub.dev import Platform

pytestmark = pytest.mark.integration

CONTEXT = "passback-context-1"
TOOL_KEY, _ = pem_pair()
COURSES = [
    {
        "id": "ai-101",
        "title": "Introduction to AI",
        "term": "test",
        "staff": {"instructors": ["lti.prof"]},
        "students": ["lti.student", "lti.student2", "offline.student"],
        "environments": [
            {"slug": "cpu", "display_name": "AI-101 · CPU", "image": "img:cpu", **small()},
        ],
        "assignments": [{"name": "ps1", "title": "Problem set 1", "due": "2030-01-01T00:00:00Z"}],
        "lti": {"context_ids": [CONTEXT]},
        "emails": {
            "lti.prof": "lti.prof@uni.example",
            "lti.student": "lti.student@uni.example",
            "lti.student2": "lti.student2@uni.example",
        },
    },
    {
        "id": "ml-201",
        "title": "Machine Learning II",
        "term": "test",
        "staff": {"tas": ["ta.other"]},
        "environments": [
            {"slug": "cpu", "display_name": "ML-201 · CPU", "image": "img:cpu", **small()},
        ],
    },
]
LAUNCHES = [
    ("lms-user-1", "lti.prof@uni.example", INSTRUCTOR),
    ("lms-user-17", "lti.student@uni.example", LEARNER),
    ("lms-user-18", "lti.student2@uni.example", LEARNER),
]
PUSH = "courses/ai-101/assignments/ps1/grades/push"


@pytest.fixture(scope="module")
def hub(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("passback")
    # Started by ``lms`` below, once the hub's LTI settings name the LMS.
    with running_platform(
        root, artifacts_dir, "grade-passback-logs", *COURSES, start=False
    ) as platform:
        yield platform


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
        COURSEHUB_LMS_TOOL_KEY=TOOL_KEY,
        COURSEHUB_LMS_TOKEN_URL=platform.token_url,
        COURSEHUB_LMS_RETRY_SECONDS="0.2",
    )
    await asyncio.to_thread(hub.start)  # this loop keeps serving the platform meanwhile
    yield platform
    await platform.stop()


async def launch(lms: LTIPlatform, user_id: str, email: str, role: str) -> None:
    """What a browser does in a launch from the LMS course (with the AGS claim)."""
    link = lms.prepare(
        user_id=user_id,
        email=email,
        roles=[role],
        context_id=CONTEXT,
        context_title="AI-101 Introduction to AI",
        ags=True,
    )
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        async with browser.get(link) as page:
            assert page.status == 200, await page.text()
            action, fields = form_fields(await page.text())
        async with browser.post(action, data=fields, allow_redirects=False) as answer:
            assert answer.status == 302, await answer.text()


@pytest.fixture(scope="module")
async def launched(hub: Platform, lms: LTIPlatform) -> dict[str, str]:
    """Everyone but offline.student launched the course; their tokens (and a TA's of
    another course)."""
    for user_id, email, role in LAUNCHES:
        await launch(lms, user_id, email, role)
    async with aiohttp.ClientSession() as session:
        hub_api = HubAPI(hub, session)
        return {
            name: await hub_api.token_for(name) for name in ("lti.prof", "lti.student", "ta.other")
        }


def set_scores(hub: Platform, scores: dict[str, float]) -> None:
    """Grade ps1 (one 10-point cell) in the course's nbgrader gradebook, as a grader would."""
    code = (
        "import json, sys\n"
        "from nbgrader.api import Gradebook\n"
        "url, scores = sys.argv[1], json.loads(sys.argv[2])\n"
        "with Gradebook(url) as gb:\n"
        "    gb.update_or_create_assignment('ps1')\n"
        "    gb.update_or_create_notebook('ps1', 'ps1')\n"
        "    gb.update_or_create_grade_cell('q1', 'ps1', 'ps1', max_score=10, cell_type='code')\n"
        "    for student, score in scores.items():\n"
        "        gb.update_or_create_student(student)\n"
        "        gb.update_or_create_submission('ps1', student)\n"
        "        grade = gb.find_grade('q1', 'ps1', 'ps1', student)\n"
        "        grade.manual_score = score\n"
        "        gb.db.commit()\n"
    )
    folder = hub.config.state_dir / "service" / "workspaces" / "ai-101"
    folder.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{folder / 'gradebook.db'}", json.dumps(scores)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


async def coursehub_cli(hub: Platform, token: str, *args: str) -> subprocess.CompletedProcess:
    """The real command, in a thread: this loop must keep serving the LMS meanwhile."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "coursehub", *args, "--hub-url", hub.public_url],
        env={**os.environ, "COURSEHUB_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=300,
    )


async def service_call(hub: Platform, method: str, path: str, token: str | None):
    headers = {"Authorization": f"token {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, f"{hub.public_url}/services/coursehub/{path}", headers=headers
        ) as answer,
    ):
        return answer.status, await answer.json(content_type=None)


def scores_of(lms: LTIPlatform) -> list[tuple[str, float, float]]:
    return [(row["userId"], row["scoreGiven"], row["scoreMaximum"]) for row in lms.scores]


async def test_push_sends_scores_skips_who_has_no_lms_identity_and_is_idempotent(
    hub, lms, launched
):
    set_scores(hub, {"lti.student": 7, "lti.student2": 9, "offline.student": 5})
    pushed = await coursehub_cli(hub, launched["lti.prof"], "grades", "push", "ai-101", "ps1")
    assert pushed.returncode == 0, pushed.stderr + pushed.stdout
    assert "lti.student          sent 7/10" in pushed.stdout
    assert "lti.student2         sent 9/10" in pushed.stdout
    assert "offline.student      skipped: no LMS identity" in pushed.stdout
    assert "2 sent, 1 skipped, 0 failed" in pushed.stdout

    # One line item for the assignment, created with the gradebook's maximum.
    (item,) = lms.lineitems.values()
    assert (item["resourceId"], item["label"], item["scoreMaximum"]) == (
        "ps1",
        "Problem set 1",
        10,
    )
    assert sorted(scores_of(lms)) == [("lms-user-17", 7, 10), ("lms-user-18", 9, 10)]
    assert {row["activityProgress"] for row in lms.scores} == {"Completed"}
    assert {row["gradingProgress"] for row in lms.scores} == {"FullyGraded"}

    # The service token came from a signed client assertion the platform verified.
    (request,) = lms.token_requests
    assert request["grant_type"] == "client_credentials"
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in request["scope"].split()
    header = jwt.get_unverified_header(request["client_assertion"])
    assert header["alg"] == "RS256" and header["kid"]

    # Again: nothing changed, nothing is sent.
    status, report = await service_call(hub, "POST", f"api/{PUSH}", launched["lti.prof"])
    assert status == 200, report
    assert report["sent"] == [] and report["failed"] == []
    assert {row["student"] for row in report["skipped"]} == {
        "lti.student",
        "lti.student2",
        "offline.student",
    }
    assert len(lms.scores) == 2 and len(lms.lineitems) == 1


async def test_a_transient_error_is_retried(hub, lms, launched):
    set_scores(hub, {"lti.student": 8})
    lms.fail_next = [(429, {"message": "slow down"}), (500, "Internal Server Error")]
    status, report = await service_call(hub, "POST", f"api/{PUSH}", launched["lti.prof"])
    assert status == 200, report
    assert report["failed"] == [], report
    assert [row["student"] for row in report["sent"]] == ["lti.student"]
    assert lms.fail_next == []  # both failures were answered, then the retries went through
    assert scores_of(lms)[-1] == ("lms-user-17", 8, 10)


async def test_an_lms_refusal_is_reported_in_plain_words(hub, lms, launched):
    set_scores(hub, {"lti.student2": 10})
    lms.refuse_user["lms-user-18"] = (
        403,
        {"errors": [{"message": "User is not enrolled in this course"}]},
    )
    try:
        pushed = await coursehub_cli(hub, launched["lti.prof"], "grades", "push", "ai-101", "ps1")
    finally:
        lms.refuse_user.clear()
    assert pushed.returncode == 1, pushed.stdout
    assert (
        "lti.student2         FAILED: the LMS refused to take lti.student2's score "
        "(HTTP 403): User is not enrolled in this course"
    ) in pushed.stdout
    # Not remembered as sent: the next push sends it.
    status, report = await service_call(hub, "POST", f"api/{PUSH}", launched["lti.prof"])
    assert status == 200 and [row["student"] for row in report["sent"]] == ["lti.student2"]
    assert scores_of(lms)[-1] == ("lms-user-18", 10, 10)


async def test_who_may_push(hub, lms, launched):
    before = len(lms.scores)
    status, body = await service_call(hub, "POST", f"api/{PUSH}", launched["ta.other"])
    assert status == 403 and "ta.other is not staff of ai-101" in body["message"]
    status, body = await service_call(hub, "POST", f"api/{PUSH}", launched["lti.student"])
    assert status == 403 and "lti.student is not staff of ai-101" in body["message"]
    status, body = await service_call(hub, "POST", f"api/{PUSH}", None)
    assert status == 401
    assert len(lms.scores) == before


async def test_the_platform_refuses_a_token_request_signed_with_another_key(hub, lms, launched):
    """The JWKS the service publishes is what the platform checks: a forger's assertion
    claiming the tool's key id gets no token."""
    status, jwks = await service_call(hub, "GET", "lti/jwks", None)
    assert status == 200 and [key["alg"] for key in jwks["keys"]] == ["RS256"]
    forger, _ = pem_pair()
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": CLIENT_ID,
            "sub": CLIENT_ID,
            "aud": lms.token_url,
            "iat": now,
            "exp": now + 300,
            "jti": "forged-1",
        },
        forger,
        algorithm="RS256",
        headers={"kid": jwks["keys"][0]["kid"]},
    )
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "scope": "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    }
    async with aiohttp.ClientSession() as session, session.post(lms.token_url, data=form) as answer:
        assert answer.status == 401
        assert "Signature verification failed" in (await answer.json())["error_description"]
