"""The course page's figures from an assignment's status and the gradebook's rows."""

from __future__ import annotations

from coursehub.service.course_overview import job_line, percentage, short_time, summarize
from coursehub.service.score_chart import bin_counts, inline_svg


def student(
    name,
    *,
    enrolled=True,
    fetched=None,
    submissions=0,
    last=None,
    late=False,
    collected=None,
    feedback=None,
):
    return {
        "student": name,
        "enrolled": enrolled,
        "fetched_at": fetched,
        "submissions": submissions,
        "last_submitted_at": last,
        "late": late,
        "collected_version": collected,
        "feedback_released_at": feedback,
    }


STATUS = {
    "course": "ai-101",
    "assignment": "ps1",
    "due": "2026-12-15T23:59:00+00:00",
    "released_at": "2026-12-01T09:00:00+00:00",
    "students": [
        student("alice", fetched="t", submissions=2, last="t2", collected=2, feedback="t3"),
        student(
            "bob",
            fetched="t",
            submissions=1,
            last="2026-12-16T08:00:00+00:00",
            late=True,
            collected=1,
        ),
        student("carol", fetched="t"),
        student("dave"),
        student("eve", enrolled=False, submissions=1, last="t1"),  # dropped, still listed
    ],
    "autograde": {
        "state": "running",
        "total": 2,
        "done": 1,
        "failed": 0,
        "running": 1,
        "message": "",
    },
}
GRADES = [
    {"student": "alice", "assignment": "ps1", "score": 10.0, "max_score": 10.0},
    {"student": "bob", "assignment": "ps1", "score": 7.0, "max_score": 10.0},
    {"student": "alice", "assignment": "ps2", "score": 1.0, "max_score": 4.0},
]


def test_counts_per_stage_and_the_late_ones():
    summary = summarize("A tiny classifier", STATUS, GRADES)
    assert (summary.enrolled, summary.fetched, summary.submitted) == (4, 3, 3)
    assert (summary.collected, summary.graded, summary.feedback) == (2, 2, 1)
    assert [(late.student, late.submissions) for late in summary.late] == [("bob", 1)]
    assert summary.released and summary.grading_live
    assert sorted(summary.percentages) == [70.0, 100.0]  # ps2's row is not ps1's


def test_an_unreleased_ungraded_assignment():
    status = {**STATUS, "released_at": None, "students": [student("carol")], "autograde": None}
    summary = summarize("ps1", status, [])
    assert not summary.released and not summary.grading_live
    assert (summary.submitted, summary.graded, summary.percentages) == (0, 0, [])
    assert job_line(None) == "not graded yet"


def test_job_line_words_it_as_the_cli_does():
    job = {**STATUS["autograde"], "state": "done", "done": 2, "running": 0}
    assert job_line(job) == "autograde done: 2/2 graded, 0 running, 0 failed"
    failed = {**job, "state": "failed", "message": "grading stopped: OSError: disk full"}
    assert job_line(failed).endswith("(grading stopped: OSError: disk full)")


def test_percentages_and_times():
    assert percentage(7, 10) == 70.0
    assert percentage(0, 0) == 100.0  # an assignment worth nothing
    assert short_time("2026-12-15T23:59:00+00:00") == "2026-12-15 23:59 UTC"
    assert short_time(None) == "—"


def test_histogram_bins_put_full_marks_in_the_last_tenth():
    assert bin_counts([0.0, 9.9, 10.0, 70.0, 99.9, 100.0]) == [2, 1, 0, 0, 0, 0, 0, 1, 0, 2]


def test_the_score_chart_is_escaped_svg_text():
    svg = inline_svg("<ps1>", [70.0, 100.0])
    assert svg.startswith("<svg")
    assert "Scores of &lt;ps1&gt; (2 graded)" in svg
    assert "<ps1>" not in svg
    assert svg == inline_svg("<ps1>", [70.0, 100.0])  # no timestamp: same scores, same bytes
