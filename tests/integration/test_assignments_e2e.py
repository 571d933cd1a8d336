"""Assignments end to end on the dev cluster with a real hub, real student servers and the
unmodified nbgrader server extension the JupyterLab "Assignments" panel calls.

instructor1 releases ps1 with the CLI; student1 and student2 fetch it through their own
servers, answer differently and submit (student1 twice); instructor1 collects, autogrades
and returns feedback with the CLI; the students fetch their feedback; the grade export has
student1 at full marks and student2 at partial marks.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from factories import hub_courses, write_courses
from hub_platform import HubAPI
from platforms import running_platform
from prometheus_client.parser import text_string_to_metric_families
from service_calls import notebook

from coursehub.dev import Platform
from coursehub.exchange.archive import pack_files

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "assignments"))
from answers import EXPECTED_SCORES, full_marks_answers, partial_answers

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir: Path, repo_root: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("assignments")
    ai101, ml201 = hub_courses(students=2)
    ml201["students"].append("student1")  # in two courses: sees both
    due = "2099-01-01T00:00:00Z"
    ai101["assignments"] = [{"name": "ps1", "title": "A tiny classifier", "due": due}]
    courses = write_courses(root / "courses", ai101, ml201)
    shutil.copytree(repo_root / "courses/ai-101/source", courses / "ai-101/source")
    with running_platform(
        root, artifacts_dir, "platform-assignments-e2e", courses_dir=courses
    ) as running:
        yield running


@pytest.fixture(scope="module")
async def hub(platform: Platform) -> AsyncIterator[HubAPI]:
    # No keep-alive: the proxy closes idle connections while the CLI works for seconds.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        yield HubAPI(platform, session)


@pytest.fixture(scope="module")
async def tokens(hub: HubAPI) -> dict[str, str]:
    names = ("instructor1", "instructor2", "student1", "student2")
    return {name: await hub.token_for(name) for name in names}


def coursehub_cli(platform: Platform, token: str, *args: str) -> subprocess.CompletedProcess:
    """The real `coursehub` command, as an instructor runs it against a deployment."""
    return subprocess.run(
        [sys.executable, "-m", "coursehub", *args, "--hub-url", platform.public_url],
        env={**os.environ, "COURSEHUB_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=600,
    )


class StudentServer:
    """A student's own Jupyter server through the proxy, with the student's token."""

    def __init__(self, hub: HubAPI, name: str, token: str):
        self.session, self.name = hub.session, name
        self.base = f"{hub.base}/user/{name}"
        self.headers = {"Authorization": f"token {token}"}

    async def action(self, action: str) -> dict:
        """What the Assignments panel does: POST /assignments/<action> on the server."""
        data = {"course_id": "ai-101", "assignment_id": "ps1"}
        async with self.session.post(
            f"{self.base}/assignments/{action}", data=data, headers=self.headers
        ) as response:
            assert response.status == 200, await response.text()
            return json.loads(await response.text())

    async def listing(self) -> dict:
        async with self.session.get(
            f"{self.base}/assignments", params={"course_id": "ai-101"}, headers=self.headers
        ) as response:
            assert response.status == 200
            return json.loads(await response.text())

    async def contents(self, path: str) -> dict:
        async with self.session.get(
            f"{self.base}/api/contents/{path}", headers=self.headers
        ) as response:
            assert response.status == 200, (path, await response.text())
            return await response.json()

    async def save_notebook(self, path: str, notebook: dict) -> None:
        body = {"type": "notebook", "format": "json", "content": notebook}
        async with self.session.put(
            f"{self.base}/api/contents/{path}", json=body, headers=self.headers
        ) as response:
            assert response.status in (200, 201), await response.text()


async def test_release_fetch_submit_collect_grade_feedback_export(platform, hub, tokens):
    teacher = tokens["instructor1"]
    released = coursehub_cli(platform, teacher, "assignment", "release", "ai-101", "ps1")
    assert released.returncode == 0, released.stderr
    assert "ai-101/ps1 released: 1 file(s), due 2099-01-01" in released.stdout

    servers = {}
    for name in ("student1", "student2"):
        status, body = await hub.spawn(name, "ai-101-cpu", tokens[name])
        assert status in (201, 202), body
    for name in ("student1", "student2"):
        await hub.wait_ready(name)
        servers[name] = StudentServer(hub, name, tokens[name])

    # A student of two courses sees both in the panel's course list. ml-201 has no source
    # folder, so the CLI says so; its instructor uploads a release instead.
    teacher2 = tokens["instructor2"]
    other = coursehub_cli(platform, teacher2, "assignment", "release", "ml-201", "lab1")
    assert other.returncode == 1 and "no source for lab1" in other.stderr
    lab1 = pack_files({"lab1.ipynb": notebook("# lab 1")})
    async with hub.session.put(
        f"{platform.service_url}/api/courses/ml-201/assignments/lab1/release",
        data=lab1,
        headers={"Authorization": f"token {tokens['instructor2']}"},
    ) as response:
        assert response.status == 201, await response.text()
    async with hub.session.get(
        f"{servers['student1'].base}/courses", headers=servers["student1"].headers
    ) as response:
        courses = json.loads(await response.text())
    assert courses["success"] and courses["value"] == ["ai-101", "ml-201"], courses

    # The Assignments panel: ps1 is listed as released, then fetched into the home folder.
    listing = await servers["student1"].listing()
    assert listing["success"], listing
    assert [(a["assignment_id"], a["status"]) for a in listing["value"]] == [("ps1", "released")]
    for server in servers.values():
        after = await server.action("fetch")
        assert [a["status"] for a in after["value"]] == ["fetched"], after

    # student1 submits a partial answer, then the full one; student2 submits a partial one.
    plan = [("student1", partial_answers), ("student1", full_marks_answers)]
    plan.append(("student2", partial_answers))
    for name, answer in plan:
        server = servers[name]
        released_notebook = (await server.contents("ps1/ps1.ipynb"))["content"]
        await server.save_notebook("ps1/ps1.ipynb", answer(released_notebook))
        result = await server.action("submit")
        assert result["success"] is True, result
    submitted = [
        a for a in (await servers["student1"].listing())["value"] if a["status"] == "submitted"
    ]
    assert len(submitted[0]["submissions"]) == 2

    status_run = coursehub_cli(platform, teacher, "assignment", "status", "ai-101", "ps1", "--json")
    assert status_run.returncode == 0, status_run.stderr
    rows = {row["student"]: row for row in json.loads(status_run.stdout)["students"]}
    assert rows["student1"]["submissions"] == 2 and rows["student2"]["submissions"] == 1
    assert rows["student1"]["fetched_at"] and rows["student1"]["late"] is False

    collected = coursehub_cli(platform, teacher, "assignment", "collect", "ai-101", "ps1")
    assert collected.returncode == 0, collected.stderr
    assert "collected 2 submission(s)" in collected.stdout
    graded = coursehub_cli(platform, teacher, "assignment", "autograde", "ai-101", "ps1")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert "2/2 graded: 2 done, 0 running, 0 failed, done" in graded.stderr  # the last state
    after = coursehub_cli(platform, teacher, "assignment", "status", "ai-101", "ps1")
    assert "autograde done: 2/2 graded, 0 running, 0 failed" in after.stdout, after.stdout
    # The grading job shows in the service's metrics (docs/deploy.md, Metrics).
    await grading_metrics_show_one_job_of_two_submissions(platform)
    feedback = coursehub_cli(platform, teacher, "assignment", "feedback", "ai-101", "ps1")
    assert feedback.returncode == 0, feedback.stderr
    assert "released feedback to 2 student(s)" in feedback.stdout

    for name, server in servers.items():
        after = await server.action("fetch_feedback")
        mine = next(a for a in after["value"] if a["status"] == "submitted")
        latest = mine["submissions"][-1]
        assert latest["has_local_feedback"] and latest["has_exchange_feedback"], latest
        html = await server.contents(f"ps1/feedback/{latest['timestamp']}/ps1.html")
        assert "ps1" in html["content"], name

    exported = coursehub_cli(platform, teacher, "grades", "export", "ai-101")
    assert exported.returncode == 0, exported.stderr
    scores = {row["student"]: row for row in csv.DictReader(io.StringIO(exported.stdout))}
    assert float(scores["student1"]["score"]) == EXPECTED_SCORES["full"]
    assert float(scores["student2"]["score"]) == EXPECTED_SCORES["partial"]
    assert scores["student1"]["max_score"] == "10" and scores["student1"]["late"] == "false"


async def grading_metrics_show_one_job_of_two_submissions(platform: Platform) -> None:
    url = f"{platform.public_url}/services/coursehub/api/metrics"
    headers = {"Authorization": f"token {platform.admin_token}"}  # it holds read:metrics
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as answer:
        assert answer.status == 200, await answer.text()
        text = await answer.text()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    course = (("course", "ai-101"),)
    assert samples[("coursehub_grading_jobs_total", (*course, ("outcome", "done")))] == 1
    assert samples[("coursehub_grading_job_duration_seconds_count", course)] == 1
    assert samples[("coursehub_grading_job_duration_seconds_sum", course)] > 0
    graded = ("coursehub_graded_submissions_total", (*course, ("outcome", "graded")))
    assert samples[graded] == 2


async def test_students_may_not_grade(platform, tokens):
    refused = coursehub_cli(platform, tokens["student2"], "assignment", "collect", "ai-101", "ps1")
    assert refused.returncode == 1
    assert "student2 is not staff of ai-101" in refused.stderr


async def test_formgrader_opens_for_course_staff_only(platform, hub, tokens):
    url = f"{platform.public_url}/services/grader-ai-101/formgrader"
    for name, expected in (("instructor1", 200), ("student1", 403), ("instructor2", 403)):
        headers = {"Authorization": f"token {tokens[name]}"}
        async with hub.session.get(url, headers=headers) as response:
            assert response.status == expected, (name, response.url, await response.text())
            if expected == 200:
                assert "Manage Assignments" in await response.text()
