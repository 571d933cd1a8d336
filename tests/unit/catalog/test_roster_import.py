"""Roster imports: every kind of bad row with its line and field, whole-file problems, and
what ``--skip-invalid`` applies and lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import course

from coursehub.catalog import Catalog
from coursehub.catalog.roster import (
    RosterRejected,
    check_import,
    decode_roster,
    privileged_users,
    read_roster,
)

COURSE = course("ai-101", title="AI", instructors=["teacher"], tas=["helper"], students=["alice"])

GOOD = (
    "# registrar export\n"  # 1
    "username,email,name\n"  # 2
    "alice,alice@example.edu,Alice Liddell\n"  # 3
    '"bob",bob@example.edu,"Smith, Bob"\n'  # 4
    "\n"  # 5
    "carol,,\n"  # 6
)

# One bad row of each kind, between good ones; the comment says what is wrong.
MIXED = (
    "username,email,name\n"  # 1
    "alice,alice@example.edu,Alice\n"  # 2 good
    "Bob,bob@example.edu,Bob\n"  # 3 upper case
    "carol,carol@example.edu\n"  # 4 too few values
    "alice,alice2@example.edu,Alice again\n"  # 5 duplicate
    "erin,not-an-email,Erin\n"  # 6 bad email
    ",x@example.edu,Nobody\n"  # 7 empty username
    "frank!,frank@example.edu,Frank\n"  # 8 invalid characters
    "teacher,teacher@example.edu,The Teacher\n"  # 9 staff listed as a student
    f"gina,gina@example.edu,{'G' * 201}\n"  # 10 name too long
    "hugo,hugo@example.edu,Hugo\n"  # 11 good
)
MIXED_ISSUES = [
    (3, "username", "username 'Bob' is not valid: write 'bob'"),
    (4, "(row)", "2 value(s) but the header has 3 column(s)"),
    (5, "username", "username 'alice' is already listed on line 2"),
    (6, "email", "email 'not-an-email' is not an email address"),
    (7, "username", "the username is empty"),
    (8, "username", "usernames are lower case"),
    (9, "username", "'teacher' is an instructor of ai-101; a user has one role"),
    (10, "name", "the name is 201 characters long; at most 200"),
]


def test_a_good_roster_gives_every_row_with_its_line():
    rows, skipped = check_import(COURSE, GOOD.encode())
    assert skipped == []
    assert [(r.line, r.username, r.email, r.name) for r in rows] == [
        (3, "alice", "alice@example.edu", "Alice Liddell"),
        (4, "bob", "bob@example.edu", "Smith, Bob"),
        (6, "carol", "", ""),
    ]


def test_a_byte_order_mark_and_crlf_line_ends_are_fine():
    rows, _ = check_import(COURSE, b"\xef\xbb\xbfusername,name\r\nalice,A\r\nbob,B\r\n")
    assert [(r.line, r.username, r.name) for r in rows] == [(2, "alice", "A"), (3, "bob", "B")]


def test_columns_may_come_in_any_order_and_only_username_is_required():
    rows, _ = check_import(COURSE, b"name,username\nAda,ada\n")
    assert [(r.username, r.name, r.email) for r in rows] == [("ada", "Ada", "")]


def test_every_bad_row_is_reported_by_line_and_field_and_nothing_is_applied():
    with pytest.raises(RosterRejected) as rejected:
        check_import(COURSE, MIXED.encode())
    got = [(i.line, i.field, i.message) for i in rejected.value.issues]
    assert [(line, field) for line, field, _ in got] == [(n, f) for n, f, _ in MIXED_ISSUES]
    for (_, _, message), (_, _, expected) in zip(got, MIXED_ISSUES, strict=True):
        assert expected in message
    text = rejected.value.message
    assert text.startswith("ai-101 roster: 8 invalid row(s); nothing was applied")
    assert "--skip-invalid" in text
    assert "  line 9: username: 'teacher' is an instructor of ai-101" in text


def test_skip_invalid_applies_the_valid_rows_and_lists_the_skipped_ones():
    rows, skipped = check_import(COURSE, MIXED.encode(), skip_invalid=True)
    assert [(r.line, r.username) for r in rows] == [(2, "alice"), (11, "hugo")]
    assert [(i.line, i.field) for i in skipped] == [(n, f) for n, f, _ in MIXED_ISSUES]


def test_a_ta_in_the_roster_is_refused_too():
    with pytest.raises(RosterRejected) as rejected:
        check_import(COURSE, b"username\nhelper\nbob\n")
    (issue,) = rejected.value.issues
    assert (issue.line, issue.field) == (2, "username") and "a TA of ai-101" in issue.message


OTHER = course("ml-201", title="ML", instructors=["prof"], tas=["alice"], students=[])
CATALOG = Catalog(root=Path("courses"), courses={"ai-101": COURSE, "ml-201": OTHER})


def test_staff_of_other_courses_and_hub_admins_are_never_imported():
    """Review 2026-12, finding 4: a TA importing another course's instructor or an admin
    as a student would reach their server."""
    privileged = privileged_users(CATALOG, {"root", "prof"})
    assert privileged == {
        "teacher": "staff of ai-101",
        "helper": "staff of ai-101",
        "prof": "a hub admin and staff of ml-201",
        "alice": "staff of ml-201",
        "root": "a hub admin",
    }
    data = b"username\nbob\nprof\nroot\nalice\ncarol\n"
    with pytest.raises(RosterRejected) as rejected:
        check_import(COURSE, data, privileged=privileged)
    issues = {(issue.line, issue.field): issue.message for issue in rejected.value.issues}
    assert set(issues) == {(3, "username"), (4, "username"), (5, "username")}
    assert issues[(4, "username")].startswith("'root' is a hub admin; staff of any course")
    assert "'alice' is staff of ml-201" in issues[(5, "username")]
    assert "nothing was applied" in rejected.value.message
    rows, skipped = check_import(COURSE, data, skip_invalid=True, privileged=privileged)
    assert [row.username for row in rows] == ["bob", "carol"]
    assert [issue.line for issue in skipped] == [3, 4, 5]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "the file is empty; it needs a header line"),
        (b"\n# only a comment\n\n", "the file is empty"),
        (b"student1,student1@example.edu,Ada\n", "is the header line missing?"),
        (b"username,email,grade\nalice,a@example.edu,A\n", "unknown column(s) 'grade'"),
        (b"email,name\na@example.edu,A\n", "no 'username' column"),
        (b"username,username\nalice,alice\n", "repeated column(s) 'username'"),
        (b"username,name\nalice,Ali\xe9\n", "not UTF-8 (byte 0xe9 on line 2)"),
        (b"username\n" + b"a" * 140_000 + b"\n", "line 2: (file): not valid CSV"),
    ],
    ids=[
        "empty",
        "only-comments",
        "no-header",
        "unknown-column",
        "no-username-column",
        "repeated-column",
        "not-utf8",
        "invalid-csv",
    ],
)
def test_files_that_cannot_be_used_at_all_are_refused_clearly(data, expected):
    with pytest.raises(RosterRejected) as rejected:
        check_import(COURSE, data, skip_invalid=True)  # not even with --skip-invalid
    assert expected in rejected.value.message
    assert "nothing was applied" in rejected.value.message


def test_a_header_problem_names_its_line():
    with pytest.raises(RosterRejected) as rejected:
        check_import(COURSE, b"# export\nusername,mail\nalice,a@example.edu\n")
    (issue,) = rejected.value.issues
    assert (issue.line, issue.field) == (2, "(header)")


def test_an_import_without_a_valid_row_is_refused_even_when_skipping():
    with pytest.raises(RosterRejected) as rejected:
        check_import(COURSE, b"username\nBob\n", skip_invalid=True)
    assert "no valid student rows" in rejected.value.message
    assert [issue.line for issue in rejected.value.issues] == [2]
    with pytest.raises(RosterRejected):
        check_import(COURSE, b"username\n")


def test_header_only_or_empty_files_are_fine_for_a_course_roster_file():
    # The loader reads course roster files with the same parser: an empty file is an
    # empty roster there, not an error.
    for text in ("", "username,email\n"):
        reading = read_roster(text)
        assert reading.rows == [] and reading.issues == [] and not reading.fatal


def test_decode_roster_reports_the_line_of_the_bad_byte():
    assert decode_roster("username\nzoë\n".encode()) == "username\nzoë\n"
    with pytest.raises(ValueError, match="line 3"):
        decode_roster(b"username\nalice\n\xff\n")
