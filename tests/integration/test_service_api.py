"""The coursehub service's exchange API end to end: a real hub's tokens, the service it runs,
and PostgreSQL.

The exchange's cases (``exchange_cases``) also run in-process on SQLite, in seconds, with a
stub hub auth (``tests/unit/service/test_service_api_inprocess.py``). Here they run once
more where only a whole platform can tell: tokens the hub made and checks with their scopes,
the service's SQL on PostgreSQL, a restart of the hub and its service, and the
``coursehub`` command against the deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tarfile
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import exchange_cases as cases
import pytest
from hub_platform import HubAPI
from platforms import running_platform
from postgres import running_postgres
from service_calls import ServiceCalls, archive

from coursehub.dev import Platform
from coursehub.dev.processes import http_status
from coursehub.service.store import BlobStore

pytestmark = pytest.mark.integration

RELEASE = cases.RELEASE


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("service-postgresql")
    with contextlib.ExitStack() as stack:
        extra = {
            "COURSEHUB_MAX_FILE_MB": "1",
            "COURSEHUB_MAX_SUBMISSION_MB": "2",
            "COURSEHUB_SERVICE_DB_URL": stack.enter_context(running_postgres()),
        }
        yield stack.enter_context(
            running_platform(
                root,
                artifacts_dir,
                "service-api-postgresql",
                *cases.service_courses(),
                extra_hub_env=extra,
            )
        )


@pytest.fixture(scope="module")
async def tokens(platform: Platform) -> dict[str, str]:
    async with aiohttp.ClientSession() as session:
        hub = HubAPI(platform, session)
        return {name: await hub.token_for(name) for name in cases.USERS}


@pytest.fixture(scope="module")
async def calls(platform: Platform) -> AsyncIterator[ServiceCalls]:
    async with aiohttp.ClientSession() as session:
        yield ServiceCalls(session, platform.service_url)


@pytest.fixture(scope="module")
async def released(calls: ServiceCalls, tokens) -> dict:
    return await cases.release(calls, tokens)


async def test_release_is_listed_and_fetched_by_enrolled_students(calls, tokens, released):
    await cases.check_release_is_listed_and_fetched_by_enrolled_students(calls, tokens, released)


async def test_submissions_are_versioned_and_timed_by_the_service(calls, tokens, released):
    await cases.check_submissions_are_versioned_and_timed_by_the_service(calls, tokens)


async def test_late_submission_is_marked_and_collect_takes_latest(calls, tokens, released):
    await cases.check_late_submission_is_marked_and_collect_takes_latest(calls, tokens)


@pytest.mark.parametrize(cases.REFUSAL_FIELDS, cases.REFUSALS)
async def test_refusals_say_why_and_store_nothing(
    calls, tokens, released, caller, method, path, params, upload, status, message
):
    await cases.check_refusal(calls, tokens, caller, method, path, params, upload, status, message)


async def test_path_traversal_in_names_is_refused(calls, tokens, released):
    await cases.check_path_traversal_in_names_is_refused(calls, tokens)


async def test_fifty_simultaneous_submissions_are_each_stored_once(calls, tokens, released):
    await cases.check_fifty_simultaneous_submissions_are_each_stored_once(calls, tokens)


async def test_service_restart_between_submit_and_collect_loses_nothing(
    platform, calls, tokens, released
):
    status, _ = await calls.submit(
        "ai-101", "ps1", tokens["student3"], archive({"ps1.ipynb": b"before restart"})
    )
    assert status == 201
    before = await cases.stored(calls, tokens)
    platform.restart_hub()  # stops the managed service with the hub, starts both again
    deadline = time.monotonic() + 60
    while http_status(f"{platform.service_url}/api/health") != 200:
        assert time.monotonic() < deadline, "the service did not come back"
        await asyncio.sleep(0.5)
    assert await cases.stored(calls, tokens) == before
    status, collected = await calls.call(
        "POST", "courses/ai-101/assignments/ps1/actions/collect", tokens["instructor1"]
    )
    assert status == 200, collected
    chosen = {row["student"]: row["version"] for row in collected["collected"]}
    assert chosen["student3"] == max(before["student3"])
    status, data = await calls.call(
        "GET",
        f"courses/ai-101/assignments/ps1/submissions/student3/{chosen['student3']}",
        tokens["instructor1"],
    )
    assert status == 200 and data == archive({"ps1.ipynb": b"before restart"})


# ----- collect handles each student apart (security review §7) ----------------------------


def coursehub_cli(platform: Platform, token: str, *args: str) -> subprocess.CompletedProcess:
    """The real `coursehub` command, as an instructor runs it against a deployment."""
    return subprocess.run(
        [sys.executable, "-m", "coursehub", *args, "--hub-url", platform.public_url],
        env={**os.environ, "COURSEHUB_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_collect_writes_the_others_and_names_the_student_it_cannot_write(
    platform, calls, tokens, released
):
    assignment = "collectme"
    await cases.check_collect_writes_the_others_and_names_the_student_it_cannot_write(
        calls,
        tokens,
        BlobStore(platform.state_dir / "service" / "store"),
        platform.config.extra_hub_env["COURSEHUB_SERVICE_DB_URL"],
        str(platform.state_dir),
        assignment,
    )

    command = ("assignment", "collect", "ai-101", assignment)
    result = await asyncio.to_thread(coursehub_cli, platform, tokens["instructor1"], *command)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "student1" in result.stdout and "student3" in result.stdout
    assert "student2" in result.stdout and "timestamp.txt" in result.stdout
    assert "collected 2 submission(s)" in result.stdout
    assert "1 could not be collected" in result.stdout


# ----- uploads are checked off the event loop, one at a time per user (review §6) -----------


@pytest.fixture(scope="module")
def roomy_platform(tmp_path_factory, artifacts_dir: Path) -> Iterator[Platform]:
    """Limits high enough that one upload takes seconds to check."""
    root = tmp_path_factory.mktemp("service-roomy")
    extra = {"COURSEHUB_MAX_FILE_MB": "256", "COURSEHUB_MAX_SUBMISSION_MB": "2048"}
    with running_platform(
        root, artifacts_dir, "service-api-roomy", *cases.service_courses(), extra_hub_env=extra
    ) as running:
        yield running


def slow_to_check(files: int = 8, file_mb: int = 128) -> bytes:
    """About 1 MB of upload that inflates to ``files * file_mb`` MiB of zeros: every byte
    must be inflated and hashed to check it."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    zeros = bytes(1024 * 1024)
    parts = []
    for n in range(files):
        info = tarfile.TarInfo(f"part{n}.bin")
        info.size = file_mb * len(zeros)
        parts.append(compressor.compress(info.tobuf(format=tarfile.GNU_FORMAT)))
        parts.extend(compressor.compress(zeros) for _ in range(file_mb))
    parts.append(compressor.compress(bytes(1024)) + compressor.flush())
    return b"".join(parts)


async def test_a_slow_upload_check_leaves_the_service_answering(roomy_platform):
    async with aiohttp.ClientSession() as session:
        hub = HubAPI(roomy_platform, session)
        student = await hub.token_for("student1")
        other = await hub.token_for("student2")
        teacher = await hub.token_for("instructor1")
        calls = ServiceCalls(session, roomy_platform.service_url)
        status, body = await calls.call(
            "PUT", "courses/ai-101/assignments/ps1/release", teacher, RELEASE
        )
        assert status == 201, body
        status, _ = await calls.call("GET", "me", student)  # the hub has seen the token
        assert status == 200
        upload = slow_to_check()

        finished: dict[str, float] = {}  # when each upload's answer arrived
        started = time.monotonic()
        first = asyncio.create_task(calls.submit("ai-101", "ps1", student, upload))
        first.add_done_callback(lambda _: finished.setdefault("first", time.monotonic()))
        second = None
        latencies: list[float] = []  # of cheap requests sent while the upload was pending
        answered_during_check = 0
        while not first.done():
            began = time.monotonic()
            status, me = await calls.call("GET", "me", other)
            assert status == 200, me
            latencies.append(time.monotonic() - began)
            answered_during_check += not first.done()
            if second is None and time.monotonic() - started > 0.3 and not first.done():
                # The same student again, while the first upload is being checked.
                small = archive({"ps1.ipynb": b"{}"})
                second = asyncio.create_task(calls.submit("ai-101", "ps1", student, small))
                second.add_done_callback(lambda _: finished.setdefault("second", time.monotonic()))
            await asyncio.sleep(0.02)
        status, body = await first
        took = finished["first"] - started
        refused = await second if second is not None else None

    assert status == 201 and body["size"] == 8 * 128 * 1024 * 1024, body
    assert took > 1.0, f"the upload took only {took:.2f} s: too quick to show anything"
    assert max(latencies) < 0.5, [round(latency, 3) for latency in latencies]
    assert answered_during_check >= 5, latencies
    assert refused is not None and refused[0] == 429, refused
    assert "already uploading" in refused[1]["message"], refused
    assert finished["second"] < finished["first"]  # refused at once, not queued behind it
