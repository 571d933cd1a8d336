"""The identity store on a real database: names are stable per (issuer, subject), never
shared, and LTI courses accumulate (SQLite here; PostgreSQL in the integration tests)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from coursehub.service.db import Database
from coursehub.service.identities import parse_request, resolve
from coursehub.service.rules import Refusal

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
IDP = "https://sso.uni.example/realms/uni"


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'service.sqlite'}")
    database.upgrade()
    yield database
    database.close()


def ask(subject: str, preferred: str | None, issuer: str = IDP, **extra) -> dict:
    return parse_request({"issuer": issuer, "subject": subject, "preferred": preferred, **extra})


async def test_first_come_gets_the_name_the_next_gets_a_suffix(db):
    jane = await resolve(db, ask("sub-jane", "Jane.Doe@uni.example"), NOW)
    other = await resolve(db, ask("sub-other", "jane.doe+lab@other.example"), NOW)
    third = await resolve(db, ask("sub-lms", "jane.doe@uni.example", issuer="https://lms"), NOW)
    assert (jane.username, jane.created) == ("jane.doe", True)
    assert other.username == "jane.doe-2"
    assert third.username == "jane.doe-3"


async def test_the_name_stays_when_the_email_changes(db):
    first = await resolve(db, ask("sub-1", "jane.doe@uni.example"), NOW)
    again = await resolve(db, ask("sub-1", "jane.smith@uni.example"), NOW)
    assert (again.username, again.created) == (first.username, False)
    newcomer = await resolve(db, ask("sub-2", "jane.smith@uni.example"), NOW)
    assert newcomer.username == "jane.smith"


async def test_simultaneous_first_sign_ins_get_different_names(db):
    results = await asyncio.gather(
        *(resolve(db, ask(f"sub-{n}", "sam@uni.example"), NOW) for n in range(8))
    )
    names = sorted(result.username for result in results)
    assert names == sorted(["sam"] + [f"sam-{n}" for n in range(2, 9)])


async def test_lti_launches_accumulate_courses(db):
    one = await resolve(db, ask("s", "kim@x", launch={"course": "ai-101", "role": "student"}), NOW)
    two = await resolve(db, ask("s", "kim@x", launch={"course": "ml-201", "role": "staff"}), NOW)
    plain = await resolve(db, ask("s", "kim@x"), NOW)
    assert one.courses == {"ai-101": "student"}
    assert two.courses == plain.courses == {"ai-101": "student", "ml-201": "staff"}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "expected a JSON object"),
        ({"issuer": "", "subject": "s"}, "'issuer' must be"),
        ({"issuer": "i", "subject": "s" * 256}, "'subject' must be"),
        ({"issuer": "i", "subject": "s", "preferred": 3}, "'preferred' must be"),
        ({"issuer": "i", "subject": "s", "launch": {"course": "c", "role": "x"}}, "'launch'"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(body, words):
    with pytest.raises(Refusal) as refused:
        parse_request(body)
    assert refused.value.status == 400
    assert words in refused.value.message
