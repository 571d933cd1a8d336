"""The effective catalog: course files plus imported rosters and sign-in memberships."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import course

from coursehub.catalog import Catalog
from coursehub.catalog.catalog import CatalogProblem
from coursehub.catalog.overlay import (
    EMPTY,
    ImportedRoster,
    Membership,
    Overlay,
    OverlayError,
    RosterEntry,
    membership_changes,
    roles_of,
    with_memberships,
)

PROBLEM = CatalogProblem(Path("courses/bad/course.yaml"), 3, "title", "missing")


@pytest.fixture
def files() -> Catalog:
    return Catalog(
        root=Path("courses"),
        courses={
            "ai-101": course(
                "ai-101",
                title="AI-101",
                students=["alice", "bob"],
                instructors=["teach"],
                tas=["ta1"],
            ),
            "ml-201": course(
                "ml-201", title="ML-201", students=["carol"], instructors=["prof"], tas=[]
            ),
        },
        problems=(PROBLEM,),
        files=(Path("courses/ai-101/course.yaml"),),
    )


def imported(course_id: str, *usernames: str) -> ImportedRoster:
    entries = tuple(RosterEntry(name, f"{name}@example.edu", name.title()) for name in usernames)
    return ImportedRoster(course_id, entries, "teach", "2026-09-01T10:00:00+00:00")


def idp(username: str, course_id: str, role: str, source: str = "oidc") -> Membership:
    return Membership(username, source, course_id, role)


def test_an_empty_overlay_gives_the_file_catalog_itself(files):
    assert with_memberships(files, EMPTY) is files


def test_an_imported_roster_replaces_the_file_students_of_its_course_only(files):
    effective = with_memberships(files, Overlay(rosters=(imported("ai-101", "dave", "bob"),)))
    assert effective.courses["ai-101"].students == ["dave", "bob"]
    assert effective.courses["ai-101"].staff == files.courses["ai-101"].staff
    assert effective.courses["ml-201"] is files.courses["ml-201"]
    assert effective.problems == files.problems and effective.files == files.files
    assert files.courses["ai-101"].students == ["alice", "bob"]  # the input is untouched
    assert roles_of(effective, "alice") == {}
    assert roles_of(effective, "dave") == {"ai-101": "student"}


def test_sign_in_memberships_add_students_and_staff_on_top_of_an_import(files):
    overlay = Overlay(
        rosters=(imported("ai-101", "dave"),),
        memberships=(
            idp("erin", "ai-101", "student"),
            idp("erin", "ai-101", "student", "lti"),  # two sources, one membership
            idp("frank", "ai-101", "staff", "lti"),
            idp("carol", "ai-101", "student"),
        ),
    )
    effective = with_memberships(files, overlay)
    ai = effective.courses["ai-101"]
    assert ai.students == ["dave", "carol", "erin"]
    assert ai.staff.instructors == ["teach"] and ai.staff.tas == ["ta1", "frank"]
    assert roles_of(effective, "frank") == {"ai-101": "staff"}
    assert roles_of(effective, "carol") == {"ai-101": "student", "ml-201": "student"}


def test_staff_wins_over_student_whatever_the_sources(files):
    overlay = Overlay(
        rosters=(imported("ml-201", "carol", "gina"),),
        memberships=(
            idp("gina", "ml-201", "staff"),  # imported as a student, staff from sign-in
            idp("hugo", "ml-201", "student", "oidc"),
            idp("hugo", "ml-201", "staff", "lti"),
            idp("prof", "ml-201", "student"),  # file staff stays staff
        ),
    )
    ml = with_memberships(files, overlay).courses["ml-201"]
    assert ml.students == ["carol"]
    assert ml.staff.tas == ["gina", "hugo"] and ml.staff.instructors == ["prof"]
    assert ml.role_of("gina") == "staff" and ml.role_of("prof") == "staff"


def test_memberships_of_courses_not_in_the_catalog_are_ignored(files):
    overlay = Overlay(
        rosters=(imported("gone-101", "zed"),), memberships=(idp("zed", "gone-101", "staff"),)
    )
    effective = with_memberships(files, overlay)
    assert set(effective.courses) == {"ai-101", "ml-201"}
    assert roles_of(effective, "zed") == {}


def test_overlays_compare_by_value_whatever_the_order(files):
    one = Overlay(
        (imported("ml-201", "a"), imported("ai-101", "b")),
        (idp("x", "ai-101", "staff"), idp("y", "ai-101", "student")),
    )
    two = Overlay(
        (imported("ai-101", "b"), imported("ml-201", "a")),
        (idp("y", "ai-101", "student"), idp("x", "ai-101", "staff")),
    )
    assert one == two and hash(one) == hash(two)
    assert with_memberships(files, one) == with_memberships(files, two)


def test_json_round_trip_and_usernames_only():
    overlay = Overlay((imported("ai-101", "dave"),), (idp("erin", "ai-101", "staff", "lti"),))
    assert Overlay.from_json(overlay.to_json()) == overlay
    bare = overlay.usernames_only()
    assert bare.roster("ai-101").entries == (RosterEntry("dave"),)
    assert "@" not in str(bare.to_json())
    assert bare.memberships == overlay.memberships


@pytest.mark.parametrize(
    "data",
    [
        None,
        {"rosters": {}},
        {"rosters": {"a": {"students": []}}, "memberships": []},
        {"rosters": {}, "memberships": [{"username": "a", "source": "oidc", "course": "c"}]},
        {
            "rosters": {},
            "memberships": [{"username": "a", "source": "oidc", "course": "c", "role": "boss"}],
        },
    ],
)
def test_malformed_overlay_json_is_refused(data):
    with pytest.raises(OverlayError):
        Overlay.from_json(data)


def test_membership_changes_lists_added_removed_and_unchanged(files):
    after = with_memberships(files, Overlay(rosters=(imported("ai-101", "bob", "dave"),)))
    assert membership_changes(files.courses, after.courses, "ai-101") == {
        "added": ["dave"],
        "removed": ["alice"],
        "unchanged": ["bob"],
    }
