"""GPU admission and enforcement decisions, on hand-made numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from factories import gpu_policy_course

from coursehub.gpu import policy

# A Wednesday afternoon; the week started Monday 30 November 2026 00:00 UTC.
NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_weeks_run_monday_to_monday_utc():
    assert policy.week_start(NOW) == datetime(2026, 11, 30, tzinfo=UTC)
    assert policy.week_reset(NOW) == datetime(2026, 12, 7, tzinfo=UTC)
    monday = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    assert policy.week_start(monday) == monday
    assert policy.week_start(monday - timedelta(microseconds=1)) == monday - timedelta(days=7)
    assert policy.when(policy.week_reset(NOW)) == "Monday 7 December, 00:00 UTC"


def test_gpu_hours_count_gpus_times_hours_inside_the_window():
    since, until = policy.week_start(NOW), NOW
    spans = [
        policy.Span(1, NOW - 2 * HOUR, NOW - HOUR),  # 1 GPU-hour
        policy.Span(2, NOW - 30 * timedelta(minutes=1), None),  # running: 2 GPUs for half an hour
        policy.Span(1, since - HOUR, since + HOUR),  # only the hour inside the week
        policy.Span(1, None, None),  # admitted, never started
        policy.Span(4, since - 3 * HOUR, since - HOUR),  # last week
    ]
    assert policy.gpu_hours(spans, since, until) == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("held", "env", "admitted", "reason"),
    [
        (0, "gpu", True, None),
        (1, "gpu", True, None),
        (2, "gpu", False, "cap"),
        (1, "gpu2", False, "cap"),
        (0, "gpu2", True, None),
        (5, "cpu", True, None),
    ],
)
def test_the_course_cap_counts_gpus_held(policy_course, held, env, admitted, reason):
    decision = policy.admit(
        policy_course, policy_course.environment(env), "student", held, 0, 0, NOW
    )
    assert (decision.admitted, decision.reason) == (admitted, reason)
    if not admitted:
        assert decision.status == 429
        assert "ai-101 allows 2 GPUs at once" in decision.message
        assert '"AI-101 · CPU", which needs no GPU' in decision.message


def test_a_spent_budget_is_refused_with_the_reset_time_and_grants_extend_it(policy_course):
    gpu = policy_course.environment("gpu")
    refused = policy.admit(policy_course, gpu, "student", 0, 10.0, 0, NOW)
    assert not refused.admitted and refused.reason == "budget" and refused.status == 403
    assert "You have used your 10 GPU-hours for ai-101 this week" in refused.message
    assert "resets on Monday 7 December, 00:00 UTC" in refused.message
    assert policy.admit(policy_course, gpu, "student", 0, 9.99, 0, NOW).admitted
    assert policy.admit(policy_course, gpu, "student", 0, 10.0, 2.0, NOW).admitted


def test_staff_are_exempt_unless_the_course_says_otherwise(policy_course):
    gpu = policy_course.environment("gpu")
    assert policy.admit(policy_course, gpu, "staff", 2, 50, 0, NOW).admitted
    strict = gpu_policy_course(max_concurrent_gpus=2, staff_exempt=False)
    assert not policy.admit(strict, strict.environment("gpu"), "staff", 2, 0, 0, NOW).admitted


def judge(course_, *, started=NOW - HOUR, used=1.0, running=1, extra=0.0, busy=NOW):
    return policy.judge(course_, "student", 1, started, used, running, extra, busy, NOW)


def test_nothing_to_do_with_time_left(policy_course):
    assert judge(policy_course) is None


def test_budget_warning_ten_minutes_before_then_stop(policy_course):
    warned = judge(policy_course, used=10 - 9 / 60)
    assert warned.action == "warn" and warned.reason == "budget"
    assert "stops in 9 min (at 15:39 UTC)" in warned.message
    stopped = judge(policy_course, used=10.0)
    assert stopped.action == "stop" and stopped.reason == "budget"
    assert "resets on Monday 7 December" in stopped.message


def test_two_gpus_spend_the_rest_twice_as_fast(policy_course):
    # 0.3 GPU-hours left: 18 minutes on one GPU, 9 minutes on two.
    assert judge(policy_course, used=9.7) is None
    assert judge(policy_course, used=9.7, running=2).action == "warn"


def test_session_limit_warns_then_stops(policy_course):
    warned = judge(policy_course, started=NOW - 4 * HOUR + timedelta(minutes=5))
    assert warned.action == "warn" and warned.reason == "session_limit"
    stopped = judge(policy_course, started=NOW - 4 * HOUR)
    assert stopped.action == "stop" and stopped.reason == "session_limit"
    assert "4-hour limit per GPU session" in stopped.message


def test_idle_gpu_servers_are_warned_then_stopped_after_the_course_timeout(policy_course):
    assert judge(policy_course, busy=NOW - timedelta(minutes=19)) is None
    warned = judge(policy_course, busy=NOW - timedelta(minutes=21))
    assert warned.action == "warn" and warned.reason == "idle"
    assert "has not used its GPU for 21 min: it stops in 9 min (at 15:39 UTC)" in warned.message
    assert "unless you run GPU work" in warned.message
    assert "browser activity does not count" in warned.message
    idle = judge(policy_course, busy=NOW - timedelta(minutes=30))
    assert idle.action == "stop" and idle.reason == "idle"
    assert "30 min without GPU work" in idle.message
    assert "Your files are kept" in idle.message and '"AI-101 · CPU"' in idle.message


def test_without_telemetry_a_session_is_idle_from_its_start(policy_course):
    # No report yet: idle since the start, never "active" on the hub's word.
    assert judge(policy_course, started=NOW - timedelta(minutes=29), busy=None).action == "warn"
    stopped = judge(policy_course, started=NOW - timedelta(minutes=31), busy=None)
    assert stopped.action == "stop" and stopped.reason == "idle"
    # A report from before the start (a former server's) does not count either.
    old = judge(policy_course, started=NOW - timedelta(minutes=31), busy=NOW - 2 * HOUR)
    assert old.action == "stop" and old.reason == "idle"


def test_the_idle_warning_time_is_the_courses():
    early = gpu_policy_course(gpu_idle_timeout_minutes=30, gpu_idle_warning_minutes=20)
    assert judge(early, busy=NOW - timedelta(minutes=9)) is None
    assert judge(early, busy=NOW - timedelta(minutes=11)).reason == "idle"


def test_an_idle_stop_comes_before_a_later_budget_warning(policy_course):
    # 8 minutes of budget left (warned), but idle for 30 minutes: stopped as idle now.
    stopped = judge(policy_course, used=10 - 8 / 60, busy=NOW - timedelta(minutes=30))
    assert stopped.action == "stop" and stopped.reason == "idle"
    # Idle 25 min (5 min to the stop) and 8 min of budget: the sooner end is warned.
    warned = judge(policy_course, used=10 - 8 / 60, busy=NOW - timedelta(minutes=25))
    assert warned.action == "warn" and warned.reason == "idle"


def test_busy_readings_are_the_courses_threshold():
    strict = gpu_policy_course(gpu_idle_timeout_minutes=30, gpu_busy_percent=50)
    assert not policy.is_gpu_busy(None, strict)
    assert not policy.is_gpu_busy(49.9, strict)
    assert policy.is_gpu_busy(50, strict)
    # The default threshold is 10 %.
    assert policy.is_gpu_busy(10, gpu_policy_course(gpu_idle_timeout_minutes=30))


def test_used_gpu_hours_integrate_busy_reports_only():
    minute = timedelta(minutes=1)
    # Busy since the previous report, a minute ago, on a quarter share: 0.25 GPU-minutes.
    assert policy.used_gpu_hours(0.25, NOW - minute, NOW, True) == pytest.approx(0.25 / 60)
    assert policy.used_gpu_hours(1, NOW - minute, NOW, False) == 0
    # The first report counts from the session's start.
    assert policy.used_gpu_hours(1, None, NOW, True, started_at=NOW - 2 * minute) == (
        pytest.approx(2 / 60)
    )
    assert policy.used_gpu_hours(1, None, NOW, True) == 0
    # After a silence, at most TELEMETRY_GAP is charged as used.
    assert policy.used_gpu_hours(2, NOW - 3 * HOUR, NOW, True) == pytest.approx(
        2 * policy.TELEMETRY_GAP.total_seconds() / 3600
    )
    # A clock that went back charges nothing.
    assert policy.used_gpu_hours(1, NOW + minute, NOW, True) == 0


def test_no_policy_no_verdict():
    assert judge(gpu_policy_course(), started=NOW - 100 * HOUR, used=1000) is None
