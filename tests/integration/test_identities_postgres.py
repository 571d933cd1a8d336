"""The identity store on PostgreSQL, where the service runs several database workers: many
first sign-ins of the same name at once still get distinct, stable names, and a reserved
name goes to the one identity that proves it however the race goes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import catalog, course
from postgres import running_postgres

from coursehub.catalog.overlay import EMPTY
from coursehub.service.db import Database
from coursehub.service.identities import parse_request, resolve
from coursehub.service.usernames import Reservations, reservations

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
        return parse_request({"issuer": "https://idp", "subject": f"s{n}", "preferred": "Sam"})

    first = await asyncio.gather(*(resolve(db, ask(n), Reservations(), NOW) for n in range(12)))
    names = [result.username for result in first]
    assert sorted(names) == sorted(["sam"] + [f"sam-{n}" for n in range(2, 13)])
    again = await asyncio.gather(*(resolve(db, ask(n), Reservations(), NOW) for n in range(12)))
    assert [result.username for result in again] == names
    assert not any(result.created for result in again)


async def test_a_reserved_name_goes_to_its_owner_whoever_signs_in_first(db):
    ai101 = course(
        "ai-101", title="AI", instructors=["j.smith"], emails={"j.smith": "j.smith@uni.example"}
    )
    reserved = reservations(catalog(ai101, root=Path("c")), EMPTY)

    def ask(n: int) -> dict:
        # Eleven look-alikes (a provider's name claim "J.Smith") and the real one, at once.
        email = "j.smith@uni.example" if n == 7 else f"mallory{n}@evil.example"
        return parse_request(
            {
                "issuer": "https://lms",
                "subject": f"u{n}",
                "preferred": "J.Smith",
                "email": email,
                "email_verified": True,
            }
        )

    results = await asyncio.gather(*(resolve(db, ask(n), reserved, NOW) for n in range(12)))
    by_subject = {n: result.username for n, result in enumerate(results)}
    assert by_subject[7] == "j.smith"
    assert sorted(name for n, name in by_subject.items() if n != 7) == sorted(
        f"j.smith-{n}" for n in range(2, 13)
    )
