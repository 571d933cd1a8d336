"""Who may reach, start and stop whose server: course staff roles, students, catalog edits."""

from __future__ import annotations

import asyncio

import pytest
from factories import hub_courses, write_courses

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def student1_running(hub_api):
    status, body = await hub_api.spawn("student1", "ai-101-cpu")
    assert status in (201, 202), body
    await hub_api.wait_ready("student1")
    yield
    await hub_api.stop("student1")
    await hub_api.wait_stopped("student1")


@pytest.fixture(scope="module")
async def tokens(hub_api) -> dict[str, str]:
    names = ["instructor1", "instructor2", "student1", "student2"]
    issued = await asyncio.gather(*(hub_api.token_for(name) for name in names))
    return dict(zip(names, issued, strict=True))


async def test_staff_reach_their_students_server(hub_api, student1_running, tokens):
    assert await hub_api.server_status("student1", tokens["instructor1"]) == 200


async def test_students_and_other_staff_cannot_reach_it(hub_api, student1_running, tokens):
    assert await hub_api.server_status("student1", tokens["student2"]) == 403
    assert await hub_api.server_status("student1", tokens["instructor2"]) == 403
    assert await hub_api.server_status("student1", tokens["student1"]) == 200


async def test_staff_start_and_stop_their_students_servers(hub_api, cluster, tokens):
    status, body = await hub_api.spawn("student2", "ai-101-cpu", tokens["instructor1"])
    assert status in (201, 202), body
    await hub_api.wait_ready("student2")
    assert len(await cluster.user_pods("student2")) == 1
    assert await hub_api.stop("student2", tokens["instructor1"]) in (202, 204)
    await hub_api.wait_stopped("student2")


async def test_nobody_starts_servers_outside_their_reach(hub_api, cluster, tokens):
    refusals = [
        ("student-ml1", "ml-201-cpu", tokens["instructor1"]),  # other course's student
        ("student3", "ai-101-cpu", tokens["student2"]),  # a fellow student
        ("student3", "ai-101-cpu", tokens["instructor2"]),  # staff of another course
    ]
    for user, profile, token in refusals:
        status, body = await hub_api.spawn(user, profile, token)
        assert status in (403, 404), (user, token, status, body)
        assert await cluster.user_pods(user) == []


async def test_staff_list_only_their_students(hub_api, tokens):
    status, users = await hub_api.request("GET", "/users", tokens["instructor1"])
    assert status == 200, users
    names = {user["name"] for user in users}
    assert {"student1", "student2", "student5"} <= names
    assert "student-ml1" not in names
    assert "instructor2" not in names


async def test_new_enrollment_applies_without_restart(hub_api, cluster, tokens):
    status, body = await hub_api.spawn("student-ml1", "ai-101-cpu")
    assert status == 403, body
    courses = hub_courses()
    courses[0]["students"].append("student-ml1")
    write_courses(hub_api.platform.courses_dir, *courses)

    deadline = asyncio.get_running_loop().time() + 15
    while True:  # the hub polls the catalog every ~2 s
        status, body = await hub_api.spawn("student-ml1", "ai-101-cpu")
        if status in (201, 202) or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(1)
    assert status in (201, 202), body
    await hub_api.wait_ready("student-ml1")
    await hub_api.stop("student-ml1")
    await hub_api.wait_stopped("student-ml1")


async def test_broken_course_is_skipped_and_logged_while_others_keep_working(hub_api, tokens):
    platform = hub_api.platform
    courses = hub_courses()
    courses[1]["environments"][0]["gpu"]["count"] = -1  # ml-201's MIG environment
    write_courses(platform.courses_dir, *courses)
    broken_file = platform.courses_dir / "ml-201" / "course.yaml"
    lines = broken_file.read_text().splitlines()
    count_line = next(n for n, text in enumerate(lines, 1) if "count: -1" in text)
    expected = f"{broken_file}:{count_line}: environments[0].gpu.count"

    try:
        deadline = asyncio.get_running_loop().time() + 15
        hub_log = platform.logs_dir / "hub.log"
        # The hub's own reload (the coursehub service, logging to the same file, reloads too).
        while not any(
            expected in line and "coursehub.service" not in line
            for line in hub_log.read_text().splitlines()
        ):
            assert asyncio.get_running_loop().time() < deadline, f"no log line {expected!r}"
            await asyncio.sleep(0.5)

        # ml-201 is out of the catalog: its environments are refused ...
        status, body = await hub_api.spawn("student-ml1", "ml-201-cpu")
        assert status in (400, 403), body
        # ... while ai-101 keeps working.
        status, body = await hub_api.spawn("student2", "ai-101-cpu")
        assert status in (201, 202), body
        await hub_api.wait_ready("student2")
        await hub_api.stop("student2")
        await hub_api.wait_stopped("student2")
    finally:
        write_courses(platform.courses_dir, *hub_courses())
