"""The identity store on PostgreSQL, where the service runs several database workers: many
first sign-ins of the same name at once still get distinct, stable names."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from postgres import running_postgres

from coursehub.service.db import Database
from coursehub.service.identities import parse_request, resolve

NOW = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def db():
    with running_postgres() as url:
        database = Database(url)
        database.upgrade()
        yield database
        database.close()


async def test_concurrent_first_sign_ins_get_distinct_stable_names(db):
    def ask(n: int) -> dict:
        return parse_request({"issuer": "https://idp", "subject": f"s{n}", "preferred": "Sam@x"})

    first = await asyncio.gather(*(resolve(db, ask(n), NOW) for n in range(12)))
    names = [result.username for result in first]
    assert sorted(names) == sorted(["sam"] + [f"sam-{n}" for n in range(2, 13)])
    again = await asyncio.gather(*(resolve(db, ask(n), NOW) for n in range(12)))
    assert [result.username for result in again] == names
    assert not any(result.created for result in again)
