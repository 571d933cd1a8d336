"""GPU usage reports (``coursehub.gpu.reports``): figures computed by hand.

The window is the week of Monday 6 January 2025 (UTC); "now" is Wednesday 8 January,
12:00, so sessions still running are charged up to then.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from coursehub.gpu import policy
from coursehub.gpu.reports import (
    CSV_HEADER,
    RefusalRow,
    SessionRow,
    WindowError,
    build_report,
    csv_text,
    idle_holders,
    parse_moment,
    parse_window,
    report_from_json,
    report_json,
    table_text,
)


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2025, 1, day, hour, minute, tzinfo=UTC)


SINCE, UNTIL, NOW = at(6), at(13), at(8, 12)


def session(user, course, gpus, started, stopped, reason=None, admitted=None, used=0.0):
    return SessionRow(user, course, gpus, admitted or started, started, stopped, reason, used)


SESSIONS = [
    # Tuesday 22:00 to Wednesday 01:30, across midnight: 2 h + 1.5 h.
    # Its GPU was busy for half of it (1.75 GPU-hours used).
    session("alice", "ai-101", 1, at(7, 22), at(8, 1, 30), "stopped", used=1.75),
    # Sunday 23:00 to Monday 01:00 on 2 GPUs: only Monday's hour counts, twice; culled idle.
    session("alice", "ai-101", 2, at(5, 23), at(6, 1), "idle"),
    # Running since Wednesday 10:00: charged to now (12:00).
    session("bob", "ai-101", 1, at(8, 10), None, used=0.5),
    # Admitted, never started (the pod failed): a session, 0 GPU-hours.
    session("bob", "ai-101", 1, None, at(8, 11, 5), "start_failed", admitted=at(8, 11)),
    # Last weekend: outside the window.
    session("carol", "ml-201", 1, at(4, 10), at(5, 10), "stopped"),
    # Monday 09:00 to 09:30, stopped by the budget.
    session("carol", "ml-201", 1, at(6, 9), at(6, 9, 30), "budget", used=0.5),
    # A course the caller may not see.
    session("dave", "secret-301", 4, at(6, 9), at(6, 12), "stopped"),
]
REFUSALS = [
    RefusalRow("bob", "ai-101", "cap", at(8, 9)),
    RefusalRow("bob", "ai-101", "budget", at(5, 9)),  # the week before
    RefusalRow("carol", "ml-201", "budget", at(6, 10)),
    RefusalRow("erin", "ai-101", "cap", at(7, 15)),
    RefusalRow("dave", "secret-301", "cap", at(7, 15)),
]
COURSES = ["ml-201", "ai-101"]


def figures(row):
    return (
        row.course,
        row.user,
        round(row.gpu_hours, 6),
        row.sessions,
        row.refusals,
        row.culls,
    )


REFUSED = {"cap": 0, "budget": 0}
CULLED = {"budget": 0, "session_limit": 0, "idle": 0}


def test_rows_per_course_and_user_with_hours_sessions_refusals_and_culls():
    report = build_report(SESSIONS, REFUSALS, COURSES, SINCE, UNTIL, NOW)
    assert [figures(row) for row in report.rows] == [
        ("ai-101", "alice", 5.5, 2, REFUSED, {**CULLED, "idle": 1}),
        ("ai-101", "bob", 2.0, 2, {**REFUSED, "cap": 1}, CULLED),
        ("ai-101", "erin", 0.0, 0, {**REFUSED, "cap": 1}, CULLED),
        ("ml-201", "carol", 0.5, 1, {**REFUSED, "budget": 1}, {**CULLED, "budget": 1}),
    ]
    assert [figures(row) for row in report.totals] == [
        ("ai-101", "(total)", 7.5, 4, {**REFUSED, "cap": 2}, {**CULLED, "idle": 1}),
        ("ml-201", "(total)", 0.5, 1, {**REFUSED, "budget": 1}, {**CULLED, "budget": 1}),
    ]
    assert report.courses == ["ai-101", "ml-201"]
    assert report.has_sessions


def test_hours_per_day_split_at_utc_midnight_up_to_now():
    report = build_report(SESSIONS, REFUSALS, COURSES, SINCE, UNTIL, NOW)
    assert report.daily.days == [date(2025, 1, 6), date(2025, 1, 7), date(2025, 1, 8)]
    assert report.daily.hours == {"ai-101": [2.0, 2.0, 3.5], "ml-201": [0.5, 0.0, 0.0]}
    assert report.daily.total() == pytest.approx(8.0)


def test_a_session_running_for_days_is_cut_at_each_midnight():
    long = [session("alice", "ai-101", 2, at(6, 12), None)]
    report = build_report(long, [], ["ai-101"], SINCE, UNTIL, NOW)
    assert report.daily.hours == {"ai-101": [24.0, 48.0, 24.0]}
    assert report.rows[0].gpu_hours == pytest.approx(96.0)


def test_the_window_edges_clip_hours_and_decide_what_counts():
    # Until Wednesday 00:00: alice's Tuesday-night session counts its 2 h before midnight.
    report = build_report(SESSIONS, REFUSALS, ["ai-101"], SINCE, at(8), NOW)
    assert [figures(row) for row in report.rows] == [
        ("ai-101", "alice", 4.0, 2, REFUSED, {**CULLED, "idle": 1}),
        ("ai-101", "erin", 0.0, 0, {**REFUSED, "cap": 1}, CULLED),
    ]
    assert report.daily.days == [date(2025, 1, 6), date(2025, 1, 7)]
    # A session that ended exactly at `since` is not in the window; one starting exactly
    # at `until` neither; a refusal exactly at `since` is.
    edges = [
        session("alice", "ai-101", 1, at(5, 20), at(6), "idle"),
        session("bob", "ai-101", 1, at(8), None),
    ]
    report = build_report(
        edges, [RefusalRow("erin", "ai-101", "budget", at(6))], ["ai-101"], at(6), at(8), NOW
    )
    assert [figures(row) for row in report.rows] == [
        ("ai-101", "erin", 0.0, 0, {**REFUSED, "budget": 1}, CULLED)
    ]


def test_hours_agree_with_the_budget_arithmetic_of_the_policy():
    rows = [s for s in SESSIONS if s.course == "ai-101" and s.username == "alice"]
    spans = [policy.Span(s.gpus, s.started_at, s.stopped_at) for s in rows]
    report = build_report(rows, [], ["ai-101"], SINCE, UNTIL, NOW)
    assert report.rows[0].gpu_hours == pytest.approx(policy.gpu_hours(spans, SINCE, NOW))


def test_an_empty_window_still_lists_the_courses_with_zeros():
    report = build_report([], [], ["ai-101"], at(8), at(9), NOW)
    assert report.rows == []
    assert [figures(row) for row in report.totals] == [
        ("ai-101", "(total)", 0.0, 0, REFUSED, CULLED)
    ]
    assert not report.has_sessions
    assert report.daily.days == [date(2025, 1, 8)]


def test_csv_has_the_documented_header_and_plain_numbers():
    report = build_report(SESSIONS, REFUSALS, COURSES, SINCE, UNTIL, NOW)
    text = csv_text(report)
    assert text.splitlines() == [
        (
            "course,user,gpu_hours,sessions,refusals_cap,refusals_budget,"
            "culls_budget,culls_session_limit,culls_idle,used_gpu_hours"
        ),
        "ai-101,alice,5.5000,2,0,0,0,0,1,1.7500",
        "ai-101,bob,2.0000,2,1,0,0,0,0,0.5000",
        "ai-101,erin,0.0000,0,1,0,0,0,0,0.0000",
        "ml-201,carol,0.5000,1,0,1,1,0,0,0.5000",
    ]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_HEADER
    assert sum(float(row["gpu_hours"]) for row in rows) == pytest.approx(8.0)


def test_csv_quotes_what_needs_quoting():
    odd = [session('o,dd"user', "ai-101", 1, at(6, 1), at(6, 2), "stopped")]
    text = csv_text(build_report(odd, [], ["ai-101"], SINCE, UNTIL, NOW))
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["user"] == 'o,dd"user' and row["gpu_hours"] == "1.0000"


def test_table_aligns_columns_with_totals_per_course_and_overall():
    report = build_report(SESSIONS, REFUSALS, COURSES, SINCE, UNTIL, NOW)
    assert table_text(report).splitlines() == [
        "GPU usage from 2025-01-06 00:00 UTC to 2025-01-13 00:00 UTC",
        "course         user     GPU-hours  used  sessions  refusals             culls",
        "ai-101         alice         5.50  1.75         2  0                    1 (idle 1)",
        "ai-101         bob           2.00  0.50         2  1 (cap 1)            0",
        "ai-101         erin          0.00  0.00         0  1 (cap 1)            0",
        "ai-101         (total)       7.50  2.25         4  2 (cap 2)            1 (idle 1)",
        "ml-201         carol         0.50  0.50         1  1 (budget 1)         1 (budget 1)",
        "ml-201         (total)       0.50  0.50         1  1 (budget 1)         1 (budget 1)",
        (
            "(all courses)  (total)       8.00  2.75         5  3 (cap 2, budget 1)  "
            "2 (budget 1, idle 1)"
        ),
        "",
        "GPU-hours held vs used (used: the GPU busy, as its server reported)",
        "course  user     held  used  idle  used %",
        "ai-101  (total)  7.50  2.25  5.25      30",
        "ml-201  (total)  0.50  0.50  0.00     100",
        "Biggest idle holders (held but not used):",
        "ai-101  alice    5.50  1.75  3.75      32",
        "ai-101  bob      2.00  0.50  1.50      25",
    ]


def test_used_hours_are_spread_over_days_like_the_hours_held():
    report = build_report(SESSIONS, REFUSALS, COURSES, SINCE, UNTIL, NOW)
    days = report.daily.days
    used = dict(zip(days, report.daily.used["ai-101"], strict=True))
    # Alice's busy half: 1 h of Tuesday's 2, 0.75 of Wednesday's 1.5; Bob's 0.5 on Wednesday.
    assert used[at(7).date()] == pytest.approx(1.0)
    assert used[at(8).date()] == pytest.approx(0.75 + 0.5)
    assert report.rows[0].used_gpu_hours == pytest.approx(1.75)


def test_the_biggest_idle_holders_come_first_and_only_those_who_held_idle():
    report = build_report(SESSIONS, REFUSALS, COURSES, SINCE, UNTIL, NOW)
    assert [(row.user, round(row.idle_gpu_hours, 2)) for row in idle_holders(report)] == [
        ("alice", 3.75),
        ("bob", 1.5),
    ]
    assert [row.user for row in idle_holders(report, top=1)] == ["alice"]
    # Used can never exceed held in a report, whatever a session's sum says.
    greedy = [session("zed", "ai-101", 1, at(6, 1), at(6, 2), "stopped", used=9.0)]
    (row,) = build_report(greedy, [], ["ai-101"], SINCE, UNTIL, NOW).rows
    assert row.used_gpu_hours == pytest.approx(1.0) and row.idle_gpu_hours == 0


def test_json_round_trip_keeps_the_report():
    report = build_report(SESSIONS, REFUSALS, COURSES, SINCE, UNTIL, NOW)
    again = report_from_json(report_json(report))
    assert again == report


def test_dates_and_times_in_the_window():
    assert parse_moment("since", "2025-01-06") == at(6)
    assert parse_moment("until", "2025-01-12", end_of_day=True) == at(13)
    assert parse_moment("since", "2025-01-06T09:30Z") == at(6, 9, 30)
    assert parse_moment("since", "2025-01-06T10:30+01:00") == at(6, 9, 30)
    assert parse_moment("since", "2025-01-06T09:30") == at(6, 9, 30)  # no offset: UTC
    assert parse_window(None, None, NOW, policy.week_start(NOW)) == (at(6), NOW)
    assert parse_window("2025-01-01", "2025-01-07", NOW, at(6)) == (at(1), at(8))


@pytest.mark.parametrize(
    ("since", "until", "words"),
    [
        ("last week", None, ["'since' must be YYYY-MM-DD", "'last week'"]),
        ("2025-13-01", None, ["'since' must be YYYY-MM-DD"]),
        (None, "2025/01/07", ["'until' must be YYYY-MM-DD", "ISO 8601"]),
        ("2025-01-08", "2025-01-07", ["'until' (2025-01-08 00:00 UTC) must be after 'since'"]),
        ("2023-01-01", "2025-01-07", ["at most 366 days"]),
    ],
)
def test_bad_dates_name_the_parameter_and_the_format(since, until, words):
    with pytest.raises(WindowError) as caught:
        parse_window(since, until, NOW, at(6))
    for word in words:
        assert word in str(caught.value)
