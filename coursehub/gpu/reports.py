"""GPU usage reports: pure functions from ledger rows and a time window to figures.

``build_report(sessions, refusals, courses, since, until, now)`` gives, for the window
``[since, until)``:

- one ``UsageRow`` per (course, user) with any activity: GPU-hours, sessions, refusals by
  reason (``cap``, ``budget``) and culls by reason (``budget``, ``session_limit``,
  ``idle``: the servers the enforcer stopped);
- one total per course of ``courses`` (zeros included, so a quiet course still shows);
- GPU-hours per UTC day per course (``Daily``), for the chart, held and used;
- ``idle_holders``: who held the most GPU-hours without using them (held minus used).

Held vs used: "GPU-hours" are held (charged, as budgets count them); "used" are the hours
the server's telemetry showed its GPU at or above the course's busy threshold
(``GPUSession.used_gpu_hours``). A session's used hours are spread over the window and its
days in proportion to the hours it held there.

How things are counted (the same rules as the budgets of ``policy``):

- GPU-hours: a session is charged from ``started_at`` to ``stopped_at`` (still running:
  to ``now``), times its GPUs, clipped to the window; a session that never started is
  charged 0. Per day, a session is split at each 00:00 UTC.
- sessions: those whose admitted-to-stopped span overlaps the window (a session running
  at ``since`` counts in the window; one admitted but never started counts, with 0 h).
- refusals: those made in the window; culls: sessions stopped in the window with a cull
  reason.

Rendering: ``table_text`` (aligned columns, totals, then held vs used and the biggest idle
holders: ``held_vs_used_text``) and ``csv_text`` (``CSV_HEADER``, one
line per (course, user), numbers as plain decimals); ``report_json`` /
``report_from_json`` carry a report over HTTP.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

REFUSAL_REASONS = ("cap", "budget")
CULL_REASONS = ("budget", "session_limit", "idle")
CSV_HEADER = (
    "course",
    "user",
    "gpu_hours",
    "sessions",
    "refusals_cap",
    "refusals_budget",
    "culls_budget",
    "culls_session_limit",
    "culls_idle",
    "used_gpu_hours",
)
TOTAL = "(total)"
ALL_COURSES = "(all courses)"


@dataclass(frozen=True)
class SessionRow:
    """What a report needs of one ``GPUSession``."""

    username: str
    course: str
    gpus: float  # GPU-equivalents: a quarter share of a GPU is 0.25
    admitted_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None
    stop_reason: str | None = None
    used_gpu_hours: float = 0.0  # the whole session's, from its telemetry


@dataclass(frozen=True)
class RefusalRow:
    """What a report needs of one ``GPURefusal``."""

    username: str
    course: str
    reason: str
    at: datetime


@dataclass
class UsageRow:
    course: str
    user: str
    gpu_hours: float = 0.0
    sessions: int = 0
    refusals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REFUSAL_REASONS, 0))
    culls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CULL_REASONS, 0))
    used_gpu_hours: float = 0.0

    @property
    def idle_gpu_hours(self) -> float:
        """Held but not used."""
        return max(0.0, self.gpu_hours - self.used_gpu_hours)

    def add(self, other: UsageRow) -> None:
        self.gpu_hours += other.gpu_hours
        self.used_gpu_hours += other.used_gpu_hours
        self.sessions += other.sessions
        for reason, count in other.refusals.items():
            self.refusals[reason] = self.refusals.get(reason, 0) + count
        for reason, count in other.culls.items():
            self.culls[reason] = self.culls.get(reason, 0) + count


@dataclass(frozen=True)
class Daily:
    """GPU-hours per UTC day: ``hours[course][i]`` (held) and ``used[course][i]`` are the
    figures of ``days[i]``."""

    days: list[date]
    hours: dict[str, list[float]]
    used: dict[str, list[float]] = field(default_factory=dict)

    def total(self) -> float:
        return sum(sum(values) for values in self.hours.values())


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    courses: list[str]
    rows: list[UsageRow]
    totals: list[UsageRow]
    daily: Daily

    @property
    def has_sessions(self) -> bool:
        return any(row.sessions for row in self.totals)


def charged_span(
    session: SessionRow, since: datetime, until: datetime, now: datetime
) -> tuple[datetime, datetime] | None:
    """The part of the session charged inside ``[since, until)``, or None."""
    if session.started_at is None:
        return None
    start = max(session.started_at, since)
    end = min(session.stopped_at or now, until, now)
    return (start, end) if end > start else None


def hours_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def split_by_day(start: datetime, end: datetime) -> Iterable[tuple[date, float]]:
    """``(UTC day, hours)`` of ``[start, end)`` cut at each midnight."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    while start < end:
        midnight = datetime.combine(start.date() + timedelta(days=1), time(), UTC)
        piece_end = min(end, midnight)
        yield start.date(), hours_between(start, piece_end)
        start = piece_end


def window_days(since: datetime, until: datetime, now: datetime) -> list[date]:
    """Every UTC day that holds a moment of ``[since, min(until, now))``; at least
    ``since``'s day, so a chart always has an axis."""
    first = since.astimezone(UTC).date()
    end = min(until, now)
    if end <= since:
        return [first]
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def build_report(
    sessions: Iterable[SessionRow],
    refusals: Iterable[RefusalRow],
    courses: Iterable[str],
    since: datetime,
    until: datetime,
    now: datetime,
) -> Report:
    """The report of the window ``[since, until)`` for ``courses``; rows of other courses
    are ignored (the caller may not see them)."""
    courses = sorted(set(courses))
    wanted = set(courses)
    rows: dict[tuple[str, str], UsageRow] = {}
    days = window_days(since, until, now)
    index = {day: n for n, day in enumerate(days)}
    daily = {course: [0.0] * len(days) for course in courses}
    daily_used = {course: [0.0] * len(days) for course in courses}

    def row(course: str, user: str) -> UsageRow:
        return rows.setdefault((course, user), UsageRow(course, user))

    for session in sessions:
        if session.course not in wanted:
            continue
        stopped = session.stopped_at
        if session.admitted_at >= until or (
            stopped is not None and stopped <= since and session.admitted_at < since
        ):
            continue  # over before the window, or not begun by its end
        entry = row(session.course, session.username)
        entry.sessions += 1
        span = charged_span(session, since, until, now)
        if span is not None:
            whole = charged_span(session, session.started_at, session.stopped_at or now, now)
            held_in_all = hours_between(*whole) * session.gpus if whole else 0.0
            # Used hours spread like the hours held (the ledger keeps one sum per session).
            used_rate = min(1.0, session.used_gpu_hours / held_in_all) if held_in_all else 0.0
            for day, hours in split_by_day(*span):
                charged = hours * session.gpus
                entry.gpu_hours += charged
                entry.used_gpu_hours += charged * used_rate
                if day in index:
                    daily[session.course][index[day]] += charged
                    daily_used[session.course][index[day]] += charged * used_rate
        if stopped is not None and since <= stopped < until and session.stop_reason in CULL_REASONS:
            entry.culls[session.stop_reason] += 1

    for refusal in refusals:
        if refusal.course not in wanted or not since <= refusal.at < until:
            continue
        entry = row(refusal.course, refusal.username)
        entry.refusals[refusal.reason] = entry.refusals.get(refusal.reason, 0) + 1

    ordered = [rows[key] for key in sorted(rows)]
    totals = []
    for course in courses:
        total = UsageRow(course, TOTAL)
        for entry in ordered:
            if entry.course == course:
                total.add(entry)
        totals.append(total)
    return Report(since, until, courses, ordered, totals, Daily(days, daily, daily_used))


def idle_holders(report: Report, top: int = 5) -> list[UsageRow]:
    """The ``top`` (course, user) rows that held the most GPU-hours without using them,
    most first; rows with nothing idle are left out."""
    idle = [row for row in report.rows if row.idle_gpu_hours >= 0.005]
    return sorted(idle, key=lambda row: (-row.idle_gpu_hours, row.course, row.user))[:top]


# ----- rendering ------------------------------------------------------------------------


def _hours(value: float) -> str:
    return f"{value:.4f}"


def csv_text(report: Report) -> str:
    """``CSV_HEADER`` then one line per (course, user); GPU-hours with 4 decimals, counts
    as integers, no totals line (sum the column)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in report.rows:
        writer.writerow(
            [
                row.course,
                row.user,
                _hours(row.gpu_hours),
                row.sessions,
                *(row.refusals.get(reason, 0) for reason in REFUSAL_REASONS),
                *(row.culls.get(reason, 0) for reason in CULL_REASONS),
                _hours(row.used_gpu_hours),
            ]
        )
    return buffer.getvalue()


def by_reason(counts: dict[str, int], reasons: Iterable[str]) -> str:
    """``3 (cap 2, budget 1)``, ``0``."""
    total = sum(counts.values())
    parts = [
        f"{reason.replace('_', ' ')} {counts[reason]}" for reason in reasons if counts.get(reason)
    ]
    return f"{total} ({', '.join(parts)})" if parts else str(total)


TABLE_HEADER = ("course", "user", "GPU-hours", "used", "sessions", "refusals", "culls")
RIGHT_ALIGNED = {2, 3, 4}


def table_cells(row: UsageRow) -> tuple[str, ...]:
    return (
        row.course,
        row.user,
        f"{row.gpu_hours:.2f}",
        f"{row.used_gpu_hours:.2f}",
        str(row.sessions),
        by_reason(row.refusals, REFUSAL_REASONS),
        by_reason(row.culls, CULL_REASONS),
    )


def table_rows(report: Report) -> list[tuple[str, ...]]:
    """Each course's users, then its total; a grand total when there are several courses."""
    lines = []
    for total in report.totals:
        lines += [table_cells(row) for row in report.rows if row.course == total.course]
        lines.append(table_cells(total))
    if len(report.totals) > 1:
        grand = UsageRow(ALL_COURSES, TOTAL)
        for total in report.totals:
            grand.add(total)
        lines.append(table_cells(grand))
    return lines


def table_text(report: Report) -> str:
    lines = [TABLE_HEADER, *table_rows(report)]
    widths = [max(len(line[n]) for line in lines) for n in range(len(TABLE_HEADER))]

    def render(line: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(widths[n]) if n in RIGHT_ALIGNED else cell.ljust(widths[n])
            for n, cell in enumerate(line)
        ]
        return "  ".join(cells).rstrip()

    title = f"GPU usage from {stamp(report.since)} to {stamp(report.until)}"
    text = "\n".join([title, render(TABLE_HEADER), *map(render, lines[1:])]) + "\n"
    return text + held_vs_used_text(report)


HELD_HEADER = ("course", "user", "held", "used", "idle", "used %")


def held_vs_used_cells(row: UsageRow) -> tuple[str, ...]:
    share = f"{100 * row.used_gpu_hours / row.gpu_hours:.0f}" if row.gpu_hours else "-"
    return (
        row.course,
        row.user,
        f"{row.gpu_hours:.2f}",
        f"{row.used_gpu_hours:.2f}",
        f"{row.idle_gpu_hours:.2f}",
        share,
    )


def held_vs_used_rows(report: Report, top: int = 5) -> list[tuple[str, ...]]:
    """Each course's total, then the biggest idle holders."""
    return [held_vs_used_cells(total) for total in report.totals] + [
        held_vs_used_cells(row) for row in idle_holders(report, top)
    ]


def held_vs_used_text(report: Report, top: int = 5) -> str:
    """GPU-hours held vs used per course, then the ``top`` biggest idle holders."""
    totals = [held_vs_used_cells(total) for total in report.totals]
    holders = [held_vs_used_cells(row) for row in idle_holders(report, top)]
    lines = [HELD_HEADER, *totals, *holders]
    widths = [max(len(line[n]) for line in lines) for n in range(len(HELD_HEADER))]

    def render(line: tuple[str, ...]) -> str:
        cells = [
            cell.ljust(widths[n]) if n < 2 else cell.rjust(widths[n]) for n, cell in enumerate(line)
        ]
        return "  ".join(cells).rstrip()

    out = [
        "",
        "GPU-hours held vs used (used: the GPU busy, as its server reported)",
        render(HELD_HEADER),
        *map(render, totals),
    ]
    if holders:
        out += ["Biggest idle holders (held but not used):", *map(render, holders)]
    else:
        out.append("No GPU-hours held idle.")
    return "\n".join(out) + "\n"


def stamp(moment: datetime) -> str:
    """``2025-01-06 00:00 UTC``."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


# ----- over HTTP ------------------------------------------------------------------------


def _row_json(row: UsageRow) -> dict:
    return {
        "course": row.course,
        "user": row.user,
        "gpu_hours": round(row.gpu_hours, 4),
        "sessions": row.sessions,
        "refusals": dict(row.refusals),
        "culls": dict(row.culls),
        "used_gpu_hours": round(row.used_gpu_hours, 4),
    }


def _row_from_json(data: dict) -> UsageRow:
    return UsageRow(
        data["course"],
        data["user"],
        float(data["gpu_hours"]),
        int(data["sessions"]),
        {str(k): int(v) for k, v in data["refusals"].items()},
        {str(k): int(v) for k, v in data["culls"].items()},
        float(data.get("used_gpu_hours", 0.0)),
    )


def report_json(report: Report) -> dict:
    return {
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "courses": list(report.courses),
        "rows": [_row_json(row) for row in report.rows],
        "totals": [_row_json(row) for row in report.totals],
        "daily": {
            "days": [day.isoformat() for day in report.daily.days],
            "gpu_hours": {
                course: [round(value, 4) for value in values]
                for course, values in report.daily.hours.items()
            },
            "used_gpu_hours": {
                course: [round(value, 4) for value in values]
                for course, values in report.daily.used.items()
            },
        },
    }


def report_from_json(data: dict) -> Report:
    return Report(
        since=datetime.fromisoformat(data["since"]),
        until=datetime.fromisoformat(data["until"]),
        courses=list(data["courses"]),
        rows=[_row_from_json(row) for row in data["rows"]],
        totals=[_row_from_json(row) for row in data["totals"]],
        daily=Daily(
            [date.fromisoformat(day) for day in data["daily"]["days"]],
            {
                course: [float(value) for value in values]
                for course, values in data["daily"]["gpu_hours"].items()
            },
            {
                course: [float(value) for value in values]
                for course, values in data["daily"].get("used_gpu_hours", {}).items()
            },
        ),
    )


# ----- the window -----------------------------------------------------------------------

DATE_FORMAT = "YYYY-MM-DD (a UTC day) or an ISO 8601 time such as 2025-01-06T09:30Z"
MAX_WINDOW = timedelta(days=366)


class WindowError(ValueError):
    """A bad ``since`` / ``until``; the message names the parameter and the format."""


def parse_moment(name: str, value: str, end_of_day: bool = False) -> datetime:
    """``YYYY-MM-DD`` is 00:00 UTC of that day (with ``end_of_day``, 00:00 of the next
    day, so ``until=2025-01-12`` includes the 12th); an ISO 8601 time is taken as given
    (UTC when it has no offset)."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time(), UTC)
            return moment + timedelta(days=1) if end_of_day else moment
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise WindowError(f"'{name}' must be {DATE_FORMAT}, not {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_window(
    since: str | None, until: str | None, now: datetime, default_since: datetime
) -> tuple[datetime, datetime]:
    """``[since, until)`` from query strings: ``since`` defaults to ``default_since`` (the
    start of the week), ``until`` to ``now``."""
    start = parse_moment("since", since) if since else default_since
    end = parse_moment("until", until, end_of_day=True) if until else now
    if end <= start:
        raise WindowError(f"'until' ({stamp(end)}) must be after 'since' ({stamp(start)})")
    if end - start > MAX_WINDOW:
        raise WindowError(
            f"the window from 'since' to 'until' is {(end - start).days} days; "
            f"ask for at most {MAX_WINDOW.days} days at a time"
        )
    return start, end
