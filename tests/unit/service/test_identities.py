"""The identity store on a real database (SQLite here; PostgreSQL in the integration tests):
names are stable per (issuer, subject), never shared, reserved names go only to identities
that prove them, and LTI courses accumulate."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import course

from coursehub.catalog import Catalog
from coursehub.catalog.overlay import EMPTY, ImportedRoster, Overlay, RosterEntry
from coursehub.service.db import Database
from coursehub.service.identities import Identity, parse_request, resolve
from coursehub.service.rules import Refusal
from coursehub.service.usernames import Reservations, reservations

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
IDP = "https://sso.uni.example/realms/uni"
NOBODY = Reservations()

COURSE = course(
    "ai-101",
    title="AI",
    instructors=["instructor1"],
    tas=["ta1"],
    students=["student1", "jdoe"],
    emails={
        "instructor1": "A.Lovelace@uni.example",
        "jdoe": "jane.doe@uni.example",
    },
)
CATALOG = Catalog(root=Path("courses"), courses={"ai-101": COURSE})
IMPORT = Overlay(
    rosters=(
        ImportedRoster(
            "ai-101",
            (
                RosterEntry("student9", "s9@uni.example"),
                # a TA's import claims an address for the instructor's name: not believed
                RosterEntry("instructor1", "mallory@uni.example"),
            ),
            "ta1",
            "2026-11-01T00:00:00+00:00",
        ),
    )
)
RESERVED = reservations(CATALOG, IMPORT, ["it-admin"])


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'service.sqlite'}")
    database.upgrade()
    yield database
    database.close()


def ask(subject: str, preferred: str | None, issuer: str = IDP, **extra) -> dict:
    return parse_request({"issuer": issuer, "subject": subject, "preferred": preferred, **extra})


def verified(email: str) -> dict:
    return {"email": email, "email_verified": True}


# --- names are stable and never shared --------------------------------------------------


async def test_first_come_gets_the_name_the_next_gets_a_suffix(db):
    home = {"home_domain": "uni.example"}
    jane = await resolve(db, ask("sub-jane", "Jane.Doe@uni.example", **home), NOBODY, NOW)
    again = await resolve(
        db, ask("sub-lms", "jane.doe@uni.example", "https://lms", **home), NOBODY, NOW
    )
    other = await resolve(db, ask("sub-other", "jane.doe@gmail.com", **home), NOBODY, NOW)
    assert (jane.username, jane.created, jane.choice.proof) == ("jane.doe", True, "derived")
    assert (again.username, again.choice.proof) == ("jane.doe-2", "suffixed")
    assert "'jane.doe' belongs to another identity" in again.choice.collision
    assert other.username == "jane.doe@gmail.com", "another address is another name"


async def test_the_name_stays_when_the_email_changes(db):
    first = await resolve(db, ask("sub-1", "jane.doe@uni.example"), NOBODY, NOW)
    again = await resolve(db, ask("sub-1", "jane.smith@uni.example"), NOBODY, NOW)
    assert (again.username, again.created, again.choice) == (first.username, False, None)
    newcomer = await resolve(db, ask("sub-2", "jane.smith@uni.example"), NOBODY, NOW)
    assert newcomer.username == "jane.smith@uni.example"


async def test_people_who_signed_in_before_keep_their_names(db):
    """Identities named by the old rules (domain and +tag dropped, first come first served)
    keep those names, even a reserved one they could not prove today."""

    def earlier(session):
        for subject, name in (("sub-old-jane", "jane.doe"), ("sub-old-i1", "instructor1")):
            session.add(
                Identity(
                    issuer=IDP, subject=subject, username=name, created_at=NOW, last_seen_at=NOW
                )
            )

    await db.run(earlier)
    jane = await resolve(db, ask("sub-old-jane", "Jane.Doe+ai@uni.example"), RESERVED, NOW)
    held = await resolve(
        db, ask("sub-old-i1", "x@evil.example", **verified("x@evil.example")), RESERVED, NOW
    )
    assert (jane.username, jane.created) == ("jane.doe", False)
    assert (held.username, held.created) == ("instructor1", False)


async def test_simultaneous_first_sign_ins_get_different_names(db):
    results = await asyncio.gather(
        *(resolve(db, ask(f"sub-{n}", "sam@uni.example"), NOBODY, NOW) for n in range(8))
    )
    names = sorted(result.username for result in results)
    assert names == sorted(["sam@uni.example"] + [f"sam@uni.example-{n}" for n in range(2, 9)])


async def test_lti_launches_accumulate_courses(db):
    one = await resolve(
        db, ask("s", "kim@x", launch={"course": "ai-101", "role": "student"}), NOBODY, NOW
    )
    two = await resolve(
        db, ask("s", "kim@x", launch={"course": "ml-201", "role": "staff"}), NOBODY, NOW
    )
    plain = await resolve(db, ask("s", "kim@x"), NOBODY, NOW)
    assert one.courses == {"ai-101": "student"}
    assert two.courses == plain.courses == {"ai-101": "student", "ml-201": "staff"}


# --- reserved names need proof ----------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {},  # a provider name claim "Instructor1", no e-mail
        {"email": "a.lovelace@uni.example"},  # her address, but unverified
        {"email": "a.lovelace@uni.example", "email_verified": False},
        verified("mallory@uni.example"),  # verified, but not hers
        verified("mallory@uni.example") | {"home_domain": "uni.example"},
    ],
    ids=["no-email", "verified-missing", "verified-false", "other-address", "home-domain"],
)
async def test_a_reserved_name_without_proof_gets_a_suffixed_name(db, claims):
    resolved = await resolve(db, ask("sub-mallory", "Instructor1", **claims), RESERVED, NOW)
    assert (resolved.username, resolved.choice.proof) == ("instructor1-2", "suffixed")
    assert "'instructor1' is reserved" in resolved.choice.collision
    assert "it gets 'instructor1-2'" in resolved.choice.collision


@pytest.mark.parametrize(
    "address",
    [
        "".join(chr(ord(char) + 0xFEE0) for char in "INSTRUCTOR1") + "@gmail.com",
        "Instructor1+x@evil.example",
        "Ínstructor1@x.y",
    ],
    ids=["full-width", "plus-tag", "accent"],
)
async def test_look_alike_addresses_do_not_get_the_instructors_name(db, address):
    resolved = await resolve(db, ask("sub-mallory", address, **verified(address)), RESERVED, NOW)
    assert resolved.username != "instructor1"
    assert resolved.username not in RESERVED.names


async def test_a_verified_listed_email_proves_the_name(db):
    address = "a.lovelace@UNI.example"
    resolved = await resolve(db, ask("sub-ada", address, **verified(address)), RESERVED, NOW)
    assert (resolved.username, resolved.choice.proof) == ("instructor1", "email")
    assert resolved.choice.collision is None


async def test_a_verified_email_gets_the_name_it_is_listed_for(db):
    """The roster says jdoe is jane.doe@uni.example: she gets jdoe, whatever her claims
    would derive."""
    address = "jane.doe@uni.example"
    resolved = await resolve(db, ask("sub-jane", address, **verified(address)), RESERVED, NOW)
    assert (resolved.username, resolved.choice.proof) == ("jdoe", "email")
    twin = await resolve(
        db, ask("sub-twin", address, "https://lms", **verified(address)), RESERVED, NOW
    )
    assert twin.username == "jane.doe@uni.example", "jdoe is taken: the derived name"
    assert "listed for jdoe, which another identity already has" in twin.choice.collision


async def test_an_imported_roster_proves_students_only(db):
    student = await resolve(
        db, ask("s9", "s9@uni.example", **verified("s9@uni.example")), RESERVED, NOW
    )
    assert (student.username, student.choice.proof) == ("student9", "email")
    mallory = await resolve(
        db, ask("m", "instructor1", **verified("mallory@uni.example")), RESERVED, NOW
    )
    assert mallory.username == "instructor1-2"


async def test_the_hubs_reserved_names_and_bindings(db):
    squatter = await resolve(db, ask("sub-x", "it-admin", reserved=["it-admin"]), RESERVED, NOW)
    assert squatter.username == "it-admin-2"
    admin = await resolve(
        db,
        ask("sub-it", "someone@uni.example", reserved=["it-admin"], bound="it-admin"),
        RESERVED,
        NOW,
    )
    assert (admin.username, admin.choice.proof) == ("it-admin", "binding")
    again = await resolve(db, ask("sub-it", None, bound="it-admin"), RESERVED, NOW)
    assert (again.username, again.created) == ("it-admin", False)


async def test_a_binding_to_a_name_another_identity_has_is_a_collision(db):
    first = await resolve(db, ask("sub-a", "ta1", **verified("ta1@uni.example")), NOBODY, NOW)
    assert first.username == "ta1"  # before ta1 was reserved, say
    bound = await resolve(db, ask("sub-b", "c.babbage@uni.example", bound="ta1"), RESERVED, NOW)
    assert bound.username == "c.babbage@uni.example"
    assert "bind it to 'ta1', which another identity already has" in bound.choice.collision
    stays = await resolve(db, ask("sub-a", "ta1", bound="instructor1"), RESERVED, NOW)
    assert (stays.username, stays.binding_ignored) == ("ta1", "instructor1")


async def test_suffixes_skip_reserved_names(db):
    crowded = reservations(
        Catalog(root=Path("c"), courses={}), EMPTY, ["instructor1", "instructor1-2"]
    )
    resolved = await resolve(db, ask("sub-m", "instructor1"), crowded, NOW)
    assert resolved.username == "instructor1-3"


async def test_an_address_listed_for_two_names_proves_neither(db):
    two = reservations(
        CATALOG,
        Overlay(
            rosters=(
                ImportedRoster(
                    "ai-101",
                    (RosterEntry("kim", "kim@uni.example"), RosterEntry("kim2", "KIM@uni.example")),
                    "ta1",
                    "2026-11-01T00:00:00+00:00",
                ),
            )
        ),
    )
    resolved = await resolve(
        db, ask("s", "kim@uni.example", **verified("kim@uni.example")), two, NOW
    )
    assert resolved.username == "kim@uni.example"
    assert "listed for several names (kim, kim2)" in resolved.choice.collision


# --- requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "expected a JSON object"),
        ({"issuer": "", "subject": "s"}, "'issuer' must be"),
        ({"issuer": "i", "subject": "s" * 256}, "'subject' must be"),
        ({"issuer": "i", "subject": "s", "preferred": 3}, "'preferred' must be"),
        ({"issuer": "i", "subject": "s", "launch": {"course": "c", "role": "x"}}, "'launch'"),
        ({"issuer": "i", "subject": "s", "email_verified": "true"}, "'email_verified' must be"),
        ({"issuer": "i", "subject": "s", "reserved": "it-admin"}, "'reserved' must be a list"),
        ({"issuer": "i", "subject": "s", "reserved": ["It-Admin"]}, "'reserved' must be a user"),
        ({"issuer": "i", "subject": "s", "reserved": ["it-admin\n"]}, "'reserved' must be a user"),
        ({"issuer": "i", "subject": "s", "bound": "it-admin\n"}, "'bound' must be a username"),
        ({"issuer": "i", "subject": "s", "home_domain": "uni.edu\n"}, "'home_domain' must be"),
        ({"issuer": "i", "subject": "s", "home_domain": "@uni.edu"}, "'home_domain' must be"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(body, words):
    with pytest.raises(Refusal) as refused:
        parse_request(body)
    assert refused.value.status == 400
    assert words in refused.value.message
