"""The coursehub service's exchange API in-process: the real Tornado application on SQLite
and a temporary data folder, with a stub hub auth in place of the hub's token lookup
(``inprocess_service.py``). The cases are ``exchange_cases``'s, the ones
``tests/integration/test_service_api.py`` runs end to end with real hub tokens on
PostgreSQL; every refusal is checked for its status, a message that says why, and that
nothing was stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import exchange_cases as cases
import pytest
from inprocess_service import InProcessService, running_service, server_token
from service_calls import archive


@pytest.fixture(scope="module")
async def service(tmp_path_factory) -> AsyncIterator[InProcessService]:
    root = tmp_path_factory.mktemp("service-inprocess")
    async with running_service(root, *cases.service_courses()) as running:
        yield running


@pytest.fixture(scope="module")
def tokens(service: InProcessService) -> dict[str, str]:
    return {name: service.token(name) for name in cases.USERS}


@pytest.fixture(scope="module")
def calls(service: InProcessService):
    return service.calls


@pytest.fixture(scope="module")
async def released(calls, tokens) -> dict:
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


async def test_collect_writes_the_others_and_names_the_student_it_cannot_write(
    service, calls, tokens, released
):
    await cases.check_collect_writes_the_others_and_names_the_student_it_cannot_write(
        calls,
        tokens,
        service.context.store,
        service.context.settings.db_url,
        str(service.context.settings.data_dir),
        "collectme",
    )


async def test_service_restart_between_submit_and_collect_loses_nothing(tmp_path):
    """A new service process on the same SQLite file and store (the hub's tokens live on)."""
    async with running_service(tmp_path, *cases.service_courses()) as first:
        tokens = {name: first.token(name) for name in cases.USERS}
        await cases.release(first.calls, tokens)
        upload = archive({"ps1.ipynb": b"before restart"})
        status, _ = await first.calls.submit("ai-101", "ps1", tokens["student3"], upload)
        assert status == 201
        before = await cases.stored(first.calls, tokens)
    async with running_service(tmp_path, *cases.service_courses(), models=first.models) as again:
        calls = again.calls
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
        assert status == 200 and data == upload


# ----- what only a token's hub model decides (the stub gives models the hub would) ---------


async def test_a_notebook_servers_token_may_fetch_but_not_act_as_staff(service, calls, released):
    student = service.add_token(server_token("student1"))
    status, body = await calls.call("GET", "courses/ai-101/assignments/ps1/release", student)
    assert status == 200 and body == cases.RELEASE
    server = service.add_token(server_token("instructor1"))
    status, body = await calls.call(
        "PUT", "courses/ai-101/assignments/ps1/release", server, cases.RELEASE
    )
    assert status == 403 and "custom:coursehub:staff" in body["message"], body


async def test_a_token_without_access_to_the_service_is_refused(service, calls, released):
    model = {**server_token("student1"), "scopes": ["read:users!user=student1"]}
    status, body = await calls.call("GET", "courses/ai-101/assignments", service.add_token(model))
    assert status == 403 and "may not call the coursehub service" in body["message"], body
