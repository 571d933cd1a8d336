"""Extensions move each student's due date (``coursehub.service.due_dates``), and the
collect rule and late flags follow the student's own date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from coursehub.service.due_dates import Grant, StudentDues, effective_due, parse_grant
from coursehub.service.rules import Refusal, choose_for_collection, is_late

DUE = datetime(2026, 12, 1, 23, 59, tzinfo=UTC)


def test_no_grants_leave_the_course_due_date():
    assert effective_due(DUE, [], "ps1") == DUE
    assert effective_due(None, [Grant("s", "ps1", minutes=60)], "ps1") is None


def test_minutes_of_the_assignment_and_course_wide_ones_add_up():
    grants = [Grant("s", "ps1", minutes=30), Grant("s", None, minutes=90)]
    assert effective_due(DUE, grants, "ps1") == DUE + timedelta(minutes=120)
    assert effective_due(DUE, grants, "ps2") == DUE + timedelta(minutes=90)


def test_a_new_date_wins_over_minutes_and_the_latest_date_counts():
    later, latest = DUE + timedelta(days=2), DUE + timedelta(days=3)
    grants = [Grant("s", None, minutes=600), Grant("s", "ps1", until=later)]
    assert effective_due(DUE, grants, "ps1") == later
    grants.append(Grant("s", "ps1", until=latest))
    assert effective_due(DUE, grants, "ps1") == latest


def test_a_new_date_may_also_be_earlier_than_the_course_one():
    earlier = DUE - timedelta(days=1)
    assert effective_due(DUE, [Grant("s", "ps1", until=earlier)], "ps1") == earlier


def test_student_dues_move_only_the_students_with_extensions():
    dues = StudentDues.build(
        DUE,
        "ps1",
        [Grant("alice", "ps1", minutes=60), Grant("bob", "ps2", minutes=60)],
    )
    assert dues.of("alice") == DUE + timedelta(hours=1)
    assert dues.of("bob") == DUE and dues.of("carol") == DUE
    assert dues.extension_of("alice") == timedelta(hours=1)
    assert dues.extension_of("bob") is None


@dataclass
class Version:
    version: int
    submitted_at: datetime


def test_collect_and_late_follow_the_students_own_due_date():
    dues = StudentDues.build(DUE, "ps1", [Grant("alice", "ps1", minutes=120)])
    versions = [Version(1, DUE - timedelta(hours=1)), Version(2, DUE + timedelta(hours=1))]
    assert choose_for_collection(versions, dues.of("alice")).version == 2
    assert not is_late(versions[1].submitted_at, dues.of("alice"))
    assert choose_for_collection(versions, dues.of("bob")).version == 1
    assert is_late(versions[1].submitted_at, dues.of("bob"))


def test_parse_grant_reads_until_as_utc():
    request = parse_grant(
        {"student": "alice", "until": "2026-12-03T10:00:00+01:00", "reason": "illness"}, False
    )
    assert request.until == datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    assert request.minutes is None and request.reason == "illness"


@pytest.mark.parametrize(
    ("body", "all_assignments", "fault"),
    [
        ([], False, "JSON object"),
        ({"student": "a", "minutes": 5}, False, "'reason' is required"),
        ({"student": "a", "minutes": 5, "reason": " "}, False, "'reason' is required"),
        ({"student": "a", "reason": "x"}, False, "exactly one of 'until'"),
        (
            {"student": "a", "minutes": 5, "until": "2026-12-01T00:00:00Z", "reason": "x"},
            False,
            "exactly one of 'until'",
        ),
        ({"student": "a", "until": "2026-12-01T00:00:00Z", "reason": "x"}, True, "for all"),
        ({"student": "a", "until": "2026-12-01T00:00:00", "reason": "x"}, False, "no UTC offset"),
        ({"student": "a", "until": "next friday", "reason": "x"}, False, "not an ISO 8601"),
        ({"student": "a", "minutes": 0, "reason": "x"}, False, "'minutes' must be"),
        ({"student": "a", "minutes": True, "reason": "x"}, False, "'minutes' must be"),
        ({"student": "a", "minutes": "5", "reason": "x"}, False, "'minutes' must be"),
        ({"minutes": 5, "reason": "x"}, False, "'student'"),
        ({"student": "a", "minutes": 5, "reason": "x", "granted_by": "b"}, False, "granted_by"),
    ],
)
def test_parse_grant_names_the_field_at_fault(body, all_assignments, fault):
    with pytest.raises(Refusal) as refused:
        parse_grant(body, all_assignments)
    assert refused.value.status == 400 and fault in refused.value.message
