"""GPU policy decisions: pure functions over the catalog and the ledger's numbers.

- Weeks run Monday 00:00 to Monday 00:00 UTC; ``week_start`` and ``week_reset`` name them.
- GPUs are counted in GPU-equivalents (``Environment.gpu_equivalents``: a quarter share of a
  time-sliced GPU is 0.25), in caps, budgets and hours alike.
- GPU-hours are hours times GPU-equivalents: two GPUs for 30 minutes are one GPU-hour, a
  quarter share for an hour is 0.25. A session is
  charged from ``started_at`` (its server runs) to ``stopped_at`` or now; only the part
  inside a week counts towards that week's budget.
- ``admit`` decides one GPU spawn: refused past the course's cap of GPUs held at once or
  with no budget left this week, with a sentence for the user.
- ``judge`` decides what to do with one running GPU session now: stop it (budget used up,
  session too long, GPU idle too long), warn its user (less than ``WARNING`` left, or
  ``gpu_idle_warning_minutes`` before an idle stop), or nothing. Idleness comes from the
  server's GPU telemetry, never from browser activity.
- ``used_gpu_hours`` integrates telemetry into GPU-hours of real use (the GPU at or above
  the course's ``gpu_busy_percent``), beside the GPU-hours held.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from coursehub.catalog.model import Course, Environment

WEEK = timedelta(days=7)
WARNING = timedelta(minutes=10)
StopReason = Literal["budget", "session_limit", "idle"]


def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of the week that holds ``now``."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def week_reset(now: datetime) -> datetime:
    return week_start(now) + WEEK


def when(moment: datetime) -> str:
    """``Monday 7 December, 00:00 UTC``."""
    moment = moment.astimezone(UTC)
    return f"{moment:%A} {moment.day} {moment:%B}, {moment:%H:%M} UTC"


def duration(delta: timedelta) -> str:
    """``2 h 05 min``, ``9 min``, ``40 s``."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass(frozen=True)
class Span:
    """The charged part of one session: ``gpus`` (GPU-equivalents) from ``started_at`` to
    ``stopped_at`` (None: still running). A session that never started has ``started_at``
    None."""

    gpus: float
    started_at: datetime | None
    stopped_at: datetime | None


def gpu_hours(spans: Iterable[Span], since: datetime, until: datetime) -> float:
    """GPU-hours of ``spans`` between ``since`` and ``until`` (running ones up to ``until``)."""
    total = 0.0
    for span in spans:
        if span.started_at is None:
            continue
        start = max(span.started_at, since)
        end = min(span.stopped_at or until, until)
        if end > start:
            total += span.gpus * (end - start).total_seconds() / 3600
    return total


def is_exempt(course: Course, role: str) -> bool:
    """Staff of a course are exempt from its cap and budget when the course says so."""
    return role == "staff" and course.gpu_policy.staff_exempt


def cpu_alternative(course: Course) -> Environment | None:
    return next((env for env in course.environments if not env.gpu_count), None)


def _suggest_cpu(course: Course) -> str:
    cpu = cpu_alternative(course)
    return f' Until then you can start "{cpu.display_name}", which needs no GPU.' if cpu else ""


@dataclass(frozen=True)
class Decision:
    admitted: bool
    reason: Literal["cap", "budget"] | None = None
    message: str = ""
    status: int = 200


def admit(
    course: Course,
    environment: Environment,
    role: str,
    gpus_held: float,
    used_hours: float,
    extra_hours: float,
    now: datetime,
    gpus_queued_ahead: float = 0,
) -> Decision:
    """Whether a spawn of ``environment`` may take its GPUs now.

    GPUs are GPU-equivalents throughout. ``gpus_held``: GPUs the course's open sessions
    hold (admitted or running);
    ``used_hours``: the user's GPU-hours in this course this week; ``extra_hours``: what
    admins granted them this week; ``gpus_queued_ahead``: GPUs that spawns queued before
    this one wait for (a course with ``queue_when_full``): they go first.
    """
    policy = course.gpu_policy
    wanted = environment.gpu_equivalents
    if wanted == 0 or is_exempt(course, role):
        return Decision(True)
    budget = policy.gpu_hours_per_student_per_week
    if budget is not None and used_hours >= budget + extra_hours:
        total = budget + extra_hours
        return Decision(
            False,
            "budget",
            f"You have used your {total:g} GPU-hours for {course.id} this week "
            f"({used_hours:.1f} used). Your budget resets on {when(week_reset(now))}."
            f"{_suggest_cpu(course)}",
            403,
        )
    cap = policy.max_concurrent_gpus
    # A hair of slack: 32 quarter shares fill a cap of 8 exactly, sums of floats or not.
    if cap is not None and gpus_held + gpus_queued_ahead + wanted > cap + 1e-9:
        held = _amount(min(gpus_held, cap))
        return Decision(
            False,
            "cap",
            f"{course.id} allows {cap} GPU{'s' if cap != 1 else ''} at once for its "
            f"students, and {held} {'is' if held == '1' else 'are'} in use, so "
            f'"{environment.display_name}" cannot start now. Try again when a '
            f"classmate's GPU server stops.{_suggest_cpu(course)}",
            429,
        )
    return Decision(True)


def _amount(gpus: float) -> str:
    """GPU-equivalents for people: ``3``, ``2.75``."""
    return f"{round(gpus, 3):g}"


def queue_message(course: Course, position: int) -> str:
    """The progress line of a spawn waiting in the course's GPU queue."""
    cap = course.gpu_policy.max_concurrent_gpus
    ahead = "you are next" if position == 1 else f"{position - 1} ahead of you"
    return (
        f"Waiting for a GPU of {course.id}: the course allows {cap} at once and all are in "
        f"use. You are number {position} in the queue ({ahead}); your server starts as soon "
        "as a classmate's GPU server stops."
    )


@dataclass(frozen=True)
class Verdict:
    action: Literal["stop", "warn"]
    reason: StopReason
    message: str


def idle_warning(course: Course) -> timedelta:
    """How long before an idle stop the student is warned."""
    minutes = course.gpu_policy.gpu_idle_warning_minutes
    return WARNING if minutes is None else timedelta(minutes=minutes)


def judge(
    course: Course,
    role: str,
    gpus: float,
    started_at: datetime,
    used_hours: float,
    user_gpus_running: float,
    extra_hours: float,
    last_busy: datetime | None,
    now: datetime,
) -> Verdict | None:
    """What to do with one running GPU session now (``None``: nothing).

    ``used_hours`` counts all the user's sessions in the course this week, this one
    included, up to ``now``; ``user_gpus_running`` is how many GPUs they hold in the course
    now (it sets how fast the rest of the budget goes). GPUs are GPU-equivalents.

    ``last_busy`` is the last time the server's telemetry showed real use: the GPU at or
    above the course's ``gpu_busy_percent``, or a kernel executing. Browser activity never
    counts (a tab left open, or a script posting activity to the hub, must not hold a
    GPU). With no telemetry yet the session counts as idle since ``started_at``.
    """
    policy = course.gpu_policy
    exempt = is_exempt(course, role)
    # (time left, reason, what ends it, how long before the end to warn)
    endings: list[tuple[timedelta, StopReason, str, timedelta]] = []
    idle = now - max(started_at, last_busy or started_at)
    if policy.gpu_idle_timeout_minutes is not None:
        timeout = timedelta(minutes=policy.gpu_idle_timeout_minutes)
        endings.append((timeout - idle, "idle", "", idle_warning(course)))
    budget = policy.gpu_hours_per_student_per_week
    if budget is not None and not exempt:
        left_hours = budget + extra_hours - used_hours
        # GPU-hours burnt per hour: a quarter share makes a budget last four times as long.
        rate = max(user_gpus_running, gpus) or 1.0
        endings.append(
            (
                timedelta(hours=left_hours / rate),
                "budget",
                f"your {budget + extra_hours:g} GPU-hours for {course.id} this week",
                WARNING,
            )
        )
    if policy.max_session_hours is not None:
        limit = timedelta(hours=policy.max_session_hours)
        endings.append(
            (
                started_at + limit - now,
                "session_limit",
                f"{course.id}'s {policy.max_session_hours:g}-hour limit per GPU session",
                WARNING,
            )
        )
    if not endings:
        return None
    left, reason, what, _ = min(endings, key=lambda ending: ending[0])
    if left <= timedelta(0):
        return Verdict("stop", reason, _stop_message(course, reason, what, idle, now))
    warned = [ending for ending in endings if ending[0] <= ending[3]]
    if not warned:
        return None
    left, reason, what, _ = min(warned, key=lambda ending: ending[0])
    if reason == "idle":
        return Verdict(
            "warn",
            "idle",
            f"Your GPU server has not used its GPU for {duration(idle)}: it stops in "
            f"{duration(left)} (at {now + left:%H:%M} UTC) unless you run GPU work. "
            f"{course.id} frees GPUs idle for {policy.gpu_idle_timeout_minutes:g} min; "
            "browser activity does not count. Your files are kept.",
        )
    return Verdict(
        "warn",
        reason,
        f"Your GPU server stops in {duration(left)} (at {now + left:%H:%M} UTC): it "
        f"will have used {what}. Save your work now.",
    )


def _stop_message(
    course: Course, reason: StopReason, what: str, idle: timedelta, now: datetime
) -> str:
    if reason == "idle":
        return (
            f"Your GPU server was stopped after {duration(idle)} without GPU work "
            f"({course.id} frees GPUs idle for {course.gpu_policy.gpu_idle_timeout_minutes:g} "
            "min: no GPU use and no code running). Your files are kept; start it again when "
            f"you need it.{_suggest_cpu(course)}"
        )
    if reason == "budget":
        return (
            f"Your GPU server was stopped: you used {what}. The budget resets on "
            f"{when(week_reset(now))}. Your files are kept."
        )
    return (
        f"Your GPU server was stopped: it reached {what}. Your files are kept; "
        "you can start a new session."
    )


# A report covers at most this long: after a longer silence (the server was unreachable,
# or the extension stopped) the gap is not charged as used, whatever the next report says.
TELEMETRY_GAP = timedelta(minutes=5)


def is_gpu_busy(utilization_percent: float | None, course: Course) -> bool:
    """Whether a utilisation reading counts as the GPU in use for ``course``."""
    if utilization_percent is None:
        return False
    return utilization_percent >= course.gpu_policy.gpu_busy_percent


def used_gpu_hours(
    gpus: float,
    previous_report: datetime | None,
    now: datetime,
    gpu_busy: bool,
    started_at: datetime | None = None,
    max_gap: timedelta = TELEMETRY_GAP,
) -> float:
    """GPU-hours of real use one telemetry report adds to a session: ``gpus``
    (GPU-equivalents) times the time since the previous report (or the session's start)
    when the report says the GPU was busy, at most ``max_gap`` of it; 0 when idle."""
    since = previous_report or started_at
    if not gpu_busy or since is None or now <= since:
        return 0.0
    return gpus * min(now - since, max_gap).total_seconds() / 3600
