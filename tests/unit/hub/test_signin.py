"""Sign-in rules: usernames, course claims, LTI roles and deep links (pure)."""

from __future__ import annotations

import re

import pytest

from coursehub.catalog.model import USERNAME_PATTERN, Course
from coursehub.signin.rules import (
    DEFAULT_COURSE_PATTERN,
    LTI_CLAIM_PREFIXES,
    SignInProblem,
    base_username,
    claim_values,
    deep_link,
    is_admin,
    lti_role,
    memberships_from_claims,
    merge_courses,
    name_source,
    next_free_username,
)


@pytest.mark.parametrize(
    ("preferred", "expected"),
    [
        ("Jane.Doe+x@Uni.edu", "jane.doe+x@uni.edu"),
        ("jane.doe@uni.edu", "jane.doe@uni.edu"),
        ("  Jane.Doe@UNI.EDU ", "jane.doe@uni.edu"),
        ("a...b--c@x", "a...b--c@x"),
        ("student1", "student1"),
        ("Prof.Ada", "prof.ada"),
        ("x" * 47 + "@uni.edu", "x" * 47 + "@uni.edu"),
    ],
)
def test_base_username_is_the_address_in_lower_case(preferred, expected):
    name = base_username(preferred, "sub-1")
    assert name == expected
    assert re.fullmatch(USERNAME_PATTERN, name)


@pytest.mark.parametrize(
    ("preferred", "expected"),
    [
        ("Jane.Doe@Uni.edu", "jane.doe"),
        ("jane.doe+ai@uni.edu", "jane.doe+ai"),
        ("jane.doe@gmail.com", "jane.doe@gmail.com"),
        ("jane.doe@mail.uni.edu", "jane.doe@mail.uni.edu"),
        ("jane.doe@evil-uni.edu", "jane.doe@evil-uni.edu"),
    ],
)
def test_only_the_home_domain_is_dropped(preferred, expected):
    assert base_username(preferred, "sub-1", home_domain="uni.edu") == expected


@pytest.mark.parametrize(
    "preferred",
    [
        None,
        "",
        "@uni.edu",
        "李雷@uni.edu",
        "+++",
        "JOSÉ.Müller@uni.edu",
        "o'brien@uni.edu",
        "first last",
        "..dots..@x",
        "../../etc/passwd",
        "a@b@c",
        "\u212aim@uni.edu",  # KELVIN SIGN, which str.lower() turns into "k"
        "x" * 80 + "@uni.edu",
    ],
)
def test_without_a_usable_name_the_subject_decides(preferred):
    name = base_username(preferred, "248289761001")
    assert re.fullmatch(r"user-[0-9a-f]{10}", name)
    assert name == base_username(None, "248289761001")
    assert name != base_username(None, "248289761002")


def test_names_come_from_the_first_usable_claim_and_never_an_unverified_email():
    claims = {"email": "jane@uni.example", "preferred_username": "jdoe", "name": " "}
    assert name_source(claims, ["email", "preferred_username"], True) == "jane@uni.example"
    assert name_source(claims, ["email", "preferred_username"], False) == "jdoe"
    assert name_source(claims, ["name", "email"], False) is None
    assert name_source({}, ["email"], True) is None


def test_lti_names_may_come_from_inside_a_claim():
    claims = {
        "sub": "a6d5c443-1f51",
        "email": "jane@uni.example",
        LTI_CLAIM_PREFIXES["ext"]: {"user_username": "jdoe"},
        LTI_CLAIM_PREFIXES["lis"]: {"person_sourcedid": "S1234"},
    }
    names = ["ext.user_username", "email"]
    assert name_source(claims, names, False, LTI_CLAIM_PREFIXES) == "jdoe"
    assert name_source(claims, ["lis.person_sourcedid"], False, LTI_CLAIM_PREFIXES) == "S1234"
    assert name_source(claims, ["custom.login_id", "sub"], False, LTI_CLAIM_PREFIXES) == (
        "a6d5c443-1f51"
    )
    assert name_source(claims, ["ext.user_username"], False) is None, "no prefixes: no nesting"


def test_next_free_username_counts_up_past_taken_names():
    assert next_free_username("jane.doe", []) == "jane.doe"
    assert next_free_username("jane.doe", ["jane.doe"]) == "jane.doe-2"
    assert next_free_username("jane.doe", ["jane.doe", "jane.doe-2", "jane.doe-4"]) == (
        "jane.doe-3"
    )


CLAIMS = {
    "groups": ["ai-101:student", "ml-201:Instructor", "staff-all", "ai-101:ta"],
    "realm_access": {"roles": ["ml-201:student", "offline_access"]},
    "roles": "ai-101:student  ml-201:teacher",
    "count": 3,
}


def test_claim_values_walk_dotted_paths_and_split_strings():
    assert claim_values(CLAIMS, "groups") == CLAIMS["groups"]
    assert claim_values(CLAIMS, "realm_access.roles") == ["ml-201:student", "offline_access"]
    assert claim_values(CLAIMS, "roles") == ["ai-101:student", "ml-201:teacher"]
    assert claim_values(CLAIMS, "missing") == []
    assert claim_values(CLAIMS, "groups.deeper") == []
    assert claim_values(CLAIMS, "count") == []


def test_memberships_from_claims_staff_wins_and_unknowns_are_ignored():
    values = [*CLAIMS["groups"], "xx-999:student", "ml-201:janitor"]
    found = memberships_from_claims(values, DEFAULT_COURSE_PATTERN, ["ai-101", "ml-201"])
    assert found.courses == {"ai-101": "staff", "ml-201": "staff"}
    assert found.ignored == (
        ("xx-999:student", "no course 'xx-999' in the catalog"),
        ("ml-201:janitor", "unknown role 'janitor'"),
    )


def test_memberships_from_claims_with_a_provider_specific_pattern():
    pattern = r"^/courses/(?P<course>[a-z0-9-]+)/(?P<role>[a-z]+)s$"
    values = ["/courses/ai-101/students", "/courses/ml-201/instructors", "/other"]
    found = memberships_from_claims(values, pattern, ["ai-101", "ml-201"])
    assert found.courses == {"ai-101": "student", "ml-201": "staff"}


def test_admin_values_are_case_insensitive():
    assert is_admin(["coursehub:Admin"], ["coursehub:admin"])
    assert not is_admin(["ai-101:instructor"], ["coursehub:admin"])
    assert not is_admin(["coursehub:admin"], [])


LIS = "http://purl.imsglobal.org/vocab/lis/v2"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([f"{LIS}/membership#Learner"], "student"),
        ([f"{LIS}/membership#Instructor"], "staff"),
        ([f"{LIS}/membership/Instructor#TeachingAssistant"], "staff"),
        ([f"{LIS}/membership#ContentDeveloper"], "staff"),
        ([f"{LIS}/membership#Learner", f"{LIS}/membership#Instructor"], "staff"),
        (["Learner"], "student"),
        ([f"{LIS}/institution/person#Student"], None),
        ([f"{LIS}/institution/person#Faculty", f"{LIS}/system/person#Administrator"], None),
        ([f"{LIS}/membership#Mentor"], None),
        ([], None),
        ([42, None], None),
    ],
)
def test_lti_roles_map_to_staff_or_student(roles, expected):
    assert lti_role(roles) == expected


def test_merge_courses_keeps_earlier_launches():
    assert merge_courses({}, "ai-101", "student") == {"ai-101": "student"}
    assert merge_courses({"ml-201": "staff", "ai-101": "student"}, "ai-101", "staff") == {
        "ai-101": "staff",
        "ml-201": "staff",
    }
    assert merge_courses({"x": "owner"}, "ai-101", "student") == {"ai-101": "student"}


def test_deep_links(catalog):
    course = catalog.courses["ai-101"]
    assert deep_link(course, {}) == "/hub/spawn"
    assert deep_link(course, {"environment": "cpu"}) == "/hub/spawn?profile=ai-101-cpu"
    assert deep_link(course, {"environment": "gpu"}, "/base/hub/") == (
        "/base/hub/spawn?profile=ai-101-gpu"
    )


def test_deep_link_to_an_assignment_starts_the_default_environment(catalog):
    data = catalog.courses["ai-101"].model_dump()
    data["assignments"] = [{"name": "ps1", "title": "PS 1", "due": "2030-01-01T00:00:00Z"}]
    course = Course.model_validate(data, strict=False)
    assert deep_link(course, {"assignment": "ps1"}) == (
        "/hub/spawn?profile=ai-101-gpu&next=%2Fhub%2Fuser-redirect%2Flab%2Ftree%2Fps1"
    )


def test_deep_link_to_what_the_course_lacks_says_so(catalog):
    course = catalog.courses["ai-101"]
    with pytest.raises(SignInProblem, match=r"environment 'tpu'.*\(it has: gpu, cpu\)"):
        deep_link(course, {"environment": "tpu"})
    with pytest.raises(SignInProblem, match="assignment 'ps9'"):
        deep_link(course, {"assignment": "ps9"})


# --- Review §3: no folding into someone else's name ---------------------------------------


def full_width(text: str) -> str:
    """``INSTRUCTOR1`` in full-width letters (U+FF01..U+FF5E), as some keyboards type them."""
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


@pytest.mark.parametrize(
    "address",
    [full_width("INSTRUCTOR1") + "@gmail.com", "Instructor1+x@evil.example", "Ínstructor1@x.y"],
    ids=["full-width", "plus-tag", "accent"],
)
def test_look_alike_addresses_do_not_become_a_staff_name(address):
    """The confirmed takeovers: each of these gave ``instructor1``, the name a course file
    lists for its instructor."""
    assert base_username(address, "attacker-sub") != "instructor1"


def test_different_addresses_never_share_a_derived_name():
    addresses = [
        "jane.doe@uni.example",
        "jane.doe@gmail.com",
        "jane.doe+ai@uni.example",
        "jané.doe@uni.example",
        full_width("jane") + ".doe@uni.example",
        "jane..doe@uni.example",
    ]
    names = [base_username(address, f"sub-{n}") for n, address in enumerate(addresses)]
    assert len(set(names)) == len(addresses), dict(zip(addresses, names, strict=True))


# --- Review §12: LTI sub-roles count with their principal role -----------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("Learner#Instructor", "student"),
        ("Learner#Administrator", "student"),
        ("Learner#ExternalLearner", "student"),
        ("Mentor#Administrator", None),
        ("Mentor#Instructor", None),
        ("Instructor#TeachingAssistant", "staff"),
        ("Instructor#Lecturer", "staff"),
        ("Administrator#Administrator", "staff"),
        ("ContentDeveloper#ContentExpert", "staff"),
    ],
)
def test_a_sub_role_counts_as_its_principal_role(role, expected):
    assert lti_role([f"{LIS}/membership/{role}"]) == expected


def test_a_course_pattern_must_match_the_whole_value():
    unanchored = r"(?P<course>[a-z0-9-]+):(?P<role>[a-z]+)"
    found = memberships_from_claims(["ai-101:student:revoked"], unanchored, ["ai-101"])
    assert found.courses == {}
