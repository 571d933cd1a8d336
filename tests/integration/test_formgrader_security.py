"""Attacks on a course's formgrader, through the real hub and proxy, on ai-101's own
``grader-ai-101`` (a ``jupyterhub-singleuser`` with nbgrader's formgrader).

student1's graded ps1 submission carries script (a markdown cell, HTML/JavaScript/markdown
outputs, a submitted ``notes.html``) and a cell that leaves a probe file when it runs next to
a hub token. instructor1 is staff of ai-101 only; ml-201 has its own course folder with an
assignment source. Every attack here is instructor1's, with their own hub token:

- Autograde and Validate in the formgrader run no student code; Autograde says how to grade.
- No terminal, no kernel, no session.
- The contents API and the formgrader's own API stay inside ai-101's nbgrader folders.
- The submission view carries no student script; submitted files are served sandboxed.

And what staff need keeps working: the assignment list and grading by hand.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from factories import hub_courses, write_courses
from formgrader_calls import (
    XSS_GLOBAL,
    Formgrader,
    grade_hostile_submission,
    scripts_and_handlers,
)
from hub_platform import HubAPI
from platforms import running_platform
from service_calls import ServiceCalls

from coursehub.dev import Platform

pytestmark = pytest.mark.integration

HOW_TO_AUTOGRADE = "coursehub assignment autograde ai-101 ps1 --student student1"


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir: Path, repo_root: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("formgrader")
    ai101, ml201 = hub_courses(students=2)
    ai101["assignments"] = [
        {"name": "ps1", "title": "A tiny classifier", "due": "2099-01-01T00:00:00Z"}
    ]
    courses = write_courses(root / "courses", ai101, ml201)
    shutil.copytree(repo_root / "courses/ai-101/source", courses / "ai-101/source")
    shutil.copytree(repo_root / "courses/ai-101/source/ps1", courses / "ml-201/source/lab1")
    with running_platform(
        root, artifacts_dir, "platform-formgrader-security", courses_dir=courses
    ) as running:
        yield running


@pytest.fixture(scope="module")
def workspaces(platform: Platform) -> Path:
    return platform.state_dir / "service" / "workspaces"


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("probe") / "student-code-ran-in-a-formgrader"


@pytest.fixture(scope="module")
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as client:
        yield client


@pytest.fixture(scope="module")
async def tokens(platform: Platform, session) -> dict[str, str]:
    hub = HubAPI(platform, session)
    # The service creates the catalog's users in the hub a moment after the hub starts.
    deadline = time.monotonic() + 60
    while (await hub.request("GET", "/users/student1", platform.admin_token))[0] != 200:
        assert time.monotonic() < deadline, "the service did not create the course's users"
        await asyncio.sleep(0.5)
    return {name: await hub.token_for(name) for name in ("instructor1", "student1")}


@pytest.fixture(scope="module")
async def graded(platform: Platform, session, tokens, probe: Path) -> None:
    service = ServiceCalls(session, platform.service_url)
    await grade_hostile_submission(service, tokens, probe)
    assert not probe.exists(), "the grading pod ran the probe with a hub token"


@pytest.fixture(scope="module")
def staff(platform: Platform, session, tokens) -> Formgrader:
    return Formgrader(session, platform, "ai-101", tokens["instructor1"])


async def test_autograde_in_the_formgrader_is_refused_and_runs_no_student_code(
    graded, staff: Formgrader, workspaces: Path, probe: Path
):
    graded_notebook = workspaces / "ai-101/autograded/student1/ps1/ps1.ipynb"
    before = graded_notebook.read_bytes()
    status, _, text = await staff.request(
        "POST", "/formgrader/api/submission/ps1/student1/autograde"
    )
    # nbgrader's own result format, so the formgrader shows the sentence in its dialog.
    assert status == 200, text
    result = json.loads(text)
    assert result["success"] is False, result
    assert HOW_TO_AUTOGRADE in result["log"], result
    assert not probe.exists(), "the formgrader ran student code"
    assert graded_notebook.read_bytes() == before, "the pod-graded notebook was touched"


async def test_validate_in_the_formgrader_runs_no_student_code(
    graded, staff: Formgrader, probe: Path
):
    for path in ("submitted/student1/ps1/ps1.ipynb", "autograded/student1/ps1/ps1.ipynb"):
        status, _, text = await staff.request(
            "POST",
            "/assignments/validate",
            f"path={path}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status in (403, 404), (path, status, text[:500])
        assert not probe.exists(), f"validating {path} ran student code"


async def test_no_terminal(staff: Formgrader):
    status, _, text = await staff.request("POST", "/api/terminals", {})
    assert status in (403, 404), (status, text[:500])
    status, _, _ = await staff.request("GET", "/api/terminals")
    assert status in (403, 404)


async def test_no_kernel_and_no_session(staff: Formgrader):
    status, _, text = await staff.request("POST", "/api/kernels", {"name": "python3"})
    assert status == 403, (status, text[:500])
    assert "formgrader runs no code" in text
    session = {"path": "source/ps1/ps1.ipynb", "type": "notebook", "kernel": {"name": "python3"}}
    status, _, text = await staff.request("POST", "/api/sessions", session)
    assert status == 403, (status, text[:500])
    status, _, text = await staff.request("GET", "/api/kernels")
    assert status == 200 and json.loads(text) == [], text


@pytest.mark.parametrize(
    "path",
    [
        "/api/contents/..%2Fml-201%2Fgradebook.db",
        "/api/contents/%2E%2E/ml-201/gradebook.db",
        "/api/contents/../ml-201/gradebook.db",
        "/files/..%2Fml-201%2Fgradebook.db",
        "/api/contents/..%2F..%2Fcoursehub-service.sqlite",
        # The course's own config (nbgrader's Python; with PostgreSQL, the service's
        # database password) and gradebook file are the service's.
        "/api/contents/nbgrader_config.py",
        "/files/nbgrader_config.py",
        "/api/contents/gradebook.db",
    ],
)
async def test_contents_stay_in_the_course_folders(graded, staff: Formgrader, path: str):
    status, _, text = await staff.request("GET", path)
    assert status in (400, 403, 404), (path, status, text[:300])
    assert "ml-201" not in text or status != 200


async def test_staff_may_not_write_the_config_nbgrader_and_the_service_run(
    graded, staff: Formgrader, workspaces: Path
):
    config = workspaces / "ai-101/nbgrader_config.py"
    before = config.read_text()
    hostile = {"type": "file", "format": "text", "content": "import os; os.system('id')\n"}
    for path in ("nbgrader_config.py", "nbgrader.py", "traitlets.py", "release/ps1/x.py"):
        status, _, text = await staff.request("PUT", f"/api/contents/{path}", hostile)
        assert status in (403, 404), (path, status, text[:300])
        if path != "nbgrader_config.py":
            assert not (workspaces / "ai-101" / path).exists(), path
    assert config.read_text() == before
    # Authoring stays possible: the assignment sources are the staff's.
    note = {"type": "file", "format": "text", "content": "hints\n"}
    status, _, text = await staff.request("PUT", "/api/contents/source/ps1/hints.txt", note)
    assert status in (200, 201), text
    assert (workspaces / "ai-101/source/ps1/hints.txt").read_text() == "hints\n"


async def test_formgrader_api_cannot_reach_another_course(
    graded, staff: Formgrader, workspaces: Path
):
    other = workspaces / "ml-201/source/lab1/ps1.ipynb"
    assert other.exists()
    # nbgrader joins the decoded id into <course>/source/./<id> and <course>/release/./<id>,
    # which here are both ml-201's source/lab1: "generate" would delete it first.
    answers = []
    for assignment in ("..%2F..%2Fml-201%2Fsource%2Flab1", "%2E%2E%2F%2E%2E%2Fml-201%2Fsource"):
        status, _, text = await staff.request(
            "POST", f"/formgrader/api/assignment/{assignment}/assign"
        )
        answers.append((assignment, status, text[:300]))
    assert other.exists(), "ai-101's formgrader deleted ml-201's assignment source"
    assert all(status == 400 for _, status, _ in answers), answers


async def test_submission_view_carries_no_student_script(graded, staff: Formgrader):
    submission = await staff.submission_id("ps1", "ps1", "student1")
    status, _, html = await staff.request("GET", f"/formgrader/submissions/{submission}/")
    assert status == 200, html[:500]
    # The student's content is there, as text and markup...
    for shown in ("STUDENT-MARKDOWN", "STUDENT-HTML", "STUDENT-MARKDOWN-OUTPUT"):
        assert shown in html, shown
    # ...but none of its script: no <script> body and no on* attribute mentions a payload.
    assert not [found for found in scripts_and_handlers(html) if XSS_GLOBAL in found]


async def test_submitted_files_are_served_sandboxed(graded, staff: Formgrader):
    submission = await staff.submission_id("ps1", "ps1", "student1")
    status, headers, text = await staff.request(
        "GET", f"/formgrader/submissions/{submission}/notes.html"
    )
    assert status == 200 and "STUDENT-FILE" in text
    policy = headers.get("Content-Security-Policy", "")
    directives = [part.strip() for part in policy.split(";")]
    assert "sandbox" in directives, policy  # no allow-scripts: the file's script never runs


async def test_staff_list_assignments_and_grade_by_hand(graded, staff: Formgrader):
    assignments = await staff.json("/formgrader/api/assignments")
    assert [row["name"] for row in assignments] == ["ps1"]
    submission = await staff.submission_id("ps1", "ps1", "student1")
    grades = await staff.json(f"/formgrader/api/grades?submission_id={submission}")
    train = next(grade for grade in grades if grade["name"] == "test-train")
    assert train["auto_score"] == 3
    status, _, text = await staff.request(
        "PUT", f"/formgrader/api/grade/{train['id']}", {"manual_score": 2, "extra_credit": 1}
    )
    assert status == 200, text
    again = await staff.json(f"/formgrader/api/grade/{train['id']}")
    assert again["manual_score"] == 2 and again["extra_credit"] == 1
    submitted = await staff.json("/formgrader/api/submission/ps1/student1")
    assert submitted["score"] == 10 - 3 + 2 + 1


async def test_staff_edit_sources_in_the_notebook_editor_without_a_kernel(
    graded, staff: Formgrader
):
    status, _, page = await staff.request("GET", "/tree/source")
    assert status == 200 and "jupyter-config-data" in page, page[:300]
    listing = await staff.json("/api/contents")
    assert sorted(item["name"] for item in listing["content"]) == ["release", "source"]
    notebook = await staff.json("/api/contents/source/ps1/ps1.ipynb")
    assert notebook["type"] == "notebook" and notebook["writable"] is True
    assert (await staff.json("/api/kernelspecs"))["kernelspecs"] == {}
    status, _, _ = await staff.request("GET", "/nbconvert/html/source/ps1/ps1.ipynb")
    assert status == 403
