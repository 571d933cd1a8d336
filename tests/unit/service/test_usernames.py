"""Reserved names and their proofs (pure): who is reserved, which addresses count."""

from __future__ import annotations

from pathlib import Path

from factories import course

from coursehub.catalog import Catalog
from coursehub.catalog.overlay import ImportedRoster, Membership, Overlay, RosterEntry
from coursehub.service.usernames import Newcomer, Reservations, choose, reservations

COURSES = [
    course(
        "ai-101",
        title="AI",
        instructors=["instructor1"],
        tas=["ta1"],
        students=["student1"],
        emails={"instructor1": "Ada@Uni.example", "student1": "s1@uni.example"},
    ),
    course("ml-201", title="ML", instructors=["instructor2"], students=["ta1"]),
]
CATALOG = Catalog(root=Path("courses"), courses={course.id: course for course in COURSES})
OVERLAY = Overlay(
    rosters=(
        ImportedRoster(
            "ml-201",
            (
                RosterEntry("student7", "s7@uni.example"),
                RosterEntry("instructor1", "mallory@uni.example"),  # staff of ai-101
                RosterEntry("ta1", "mallory@uni.example"),  # staff of ai-101
                RosterEntry("dean", "mallory@uni.example"),  # the hub's admin
            ),
            "instructor2",
            "2026-11-01T00:00:00+00:00",
        ),
    ),
    memberships=(Membership("claim.only@uni.example", "oidc", "ml-201", "student"),),
)


def test_every_listed_name_is_reserved():
    reserved = reservations(CATALOG, OVERLAY, ["dean"])
    assert reserved.names == {
        "instructor1",
        "instructor2",
        "ta1",
        "student1",
        "student7",
        "dean",
        "claim.only@uni.example",
    }


def test_addresses_come_from_course_files_and_from_imports_for_students_only():
    reserved = reservations(CATALOG, OVERLAY, ["dean"])
    assert reserved.listed_for("ada@uni.EXAMPLE") == ["instructor1"]
    assert reserved.listed_for("s7@uni.example") == ["student7"]
    assert reserved.listed_for("mallory@uni.example") == [], "an import cannot prove staff"
    assert reserved.listed_for("s1@uni.example ") == ["student1"]


def test_addresses_compare_ignoring_ascii_case_only():
    reserved = Reservations(frozenset({"kim"}), {"kim": frozenset({"kim@uni.example"})})
    assert reserved.listed_for("KIM@UNI.EXAMPLE") == ["kim"]
    assert reserved.listed_for("\u212aim@uni.example") == [], "the Kelvin sign is not a K"


def test_a_newcomer_is_described_for_the_log():
    person = Newcomer("https://idp", "sub-1", "m@x.example", True)
    assert person.describe() == "identity 'sub-1' of https://idp (verified e-mail m@x.example)"
    assert "unverified e-mail" in Newcomer("i", "s", "m@x.example").describe()
    assert "(no e-mail)" in Newcomer("i", "s").describe()


def test_an_unverified_email_proves_nothing():
    reserved = reservations(CATALOG, Overlay())
    unverified = Newcomer("i", "s", "ada@uni.example", email_verified=False)
    assert choose(unverified, "instructor1", reserved, set()).username == "instructor1-2"
    proven = Newcomer("i", "s", "ada@uni.example", email_verified=True)
    assert choose(proven, "ada@uni.example", reserved, set()).username == "instructor1"


def _import(course: str, *entries: tuple[str, str]) -> ImportedRoster:
    rows = tuple(RosterEntry(name, email) for name, email in entries)
    return ImportedRoster(course, rows, "someone", "2026-11-01T00:00:00+00:00")


def test_an_import_cannot_prove_a_student_a_course_file_lists():
    """A TA of ml-201 imports ai-101's student1 with their own address: ai-101's file
    speaks for student1, the import does not."""
    overlay = Overlay(rosters=(_import("ml-201", ("student1", "ta@uni.example")),))
    reserved = reservations(CATALOG, overlay)
    assert reserved.listed_for("ta@uni.example") == []
    assert reserved.listed_for("s1@uni.example") == ["student1"]


def test_imports_that_disagree_about_an_address_prove_nothing():
    agree = Overlay(
        rosters=(
            _import("ai-101", ("kim", "kim@uni.example")),
            _import("ml-201", ("kim", "KIM@uni.example")),
        )
    )
    assert reservations(CATALOG, agree).listed_for("kim@uni.example") == ["kim"]
    disagree = Overlay(
        rosters=(
            _import("ai-101", ("kim", "kim@uni.example")),
            _import("ml-201", ("kim", "ta@uni.example")),
        )
    )
    reserved = reservations(CATALOG, disagree)
    assert reserved.listed_for("kim@uni.example") == reserved.listed_for("ta@uni.example") == []
    assert "kim" in reserved.names, "still reserved"
