"""A simulated week of a 200-student course on 8 GPUs: whole GPUs with today's idle culling
vs quarter shares with reclaim by real GPU use.

The usage pattern is recorded data (``bench/data/gpu_week.csv``, made once with
``--generate`` and a fixed seed): each row is one GPU session a student asks for, with when
they ask, how long they work, the bursts of GPU work inside that time (sporadic), and how
long they leave the browser tab open after they stop working (0: they stop the server).

Both policies run the same requests minute by minute through coursehub's own policy code:
``policy.admit`` decides each start under the course's cap (``max_concurrent_gpus: 8``,
waiting spawns queue first come first), ``policy.judge`` decides idle stops, and
``policy.gpu_hours`` charges the sessions.

Every running session reports telemetry each minute, as the notices extension does (85 %
utilisation in a burst, 2 % outside one), and the ledger's own functions fold it in:
``policy.is_gpu_busy`` against the course's ``gpu_busy_percent`` and
``policy.used_gpu_hours`` for the GPU-hours used. The arms differ in what they hold and in
what ``policy.judge`` is given as the last sign of use:

- **whole**: each session takes ``nvidia.com/gpu`` (1 GPU-equivalent); idleness is judged
  the way coursehub did before issue 16's part B, by browser activity, which an open
  JupyterLab tab keeps reporting: a tab left open holds the GPU until
  ``gpu_idle_timeout_minutes`` after the tab goes quiet.
- **shared**: each session takes a quarter of a time-sliced GPU (``nvidia.com/gpu.shared``,
  ``share: 0.25``, 0.25 GPU-equivalents): 32 fit under the cap of 8. Idleness is judged by
  recorded GPU use, as the service does now: ``policy.judge`` gets the session's
  ``last_gpu_busy_at`` from its telemetry, and a tab left open does not count.

A session reclaimed while its student is still working (a pause longer than the timeout)
is asked for again at their next burst, for the rest of their work; the restart waits like
any request.

Simplifications, stated: a burst takes as long on a quarter share as on a whole GPU (the
pattern is sporadic, so sharers rarely burst at once; contention would stretch bursts), a
student asks again only once their previous session is over (a request made while their
last one still runs or waits is dropped), and nobody gives up waiting.

Prints, per policy, students served at once (peak and mean), GPU-hours held vs used (used:
integrated from the telemetry reports as the ledger does, in GPU-equivalents), waits for a GPU
(p50, p95, max; requests still waiting at the week's end count up to then), then one JSON
line with the ratios shared/whole (waits: whole/shared).

    .venv/bin/python bench/gpu_fleet.py
    .venv/bin/python bench/gpu_fleet.py --generate   # rewrite the recorded pattern
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from bisect import insort
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coursehub.catalog.model import Course
from coursehub.gpu import policy

DATA = Path(__file__).resolve().parent / "data" / "gpu_week.csv"
STUDENTS = 200
GPUS = 8
WEEK_MINUTES = 7 * 24 * 60
IDLE_TIMEOUT_MINUTES = 30
SEED = 16
MONDAY = datetime(2026, 12, 7, tzinfo=UTC)


# ----- the recorded pattern --------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    student: str
    arrive: int  # minute of the week
    present: int  # minutes the student works
    tab_open: int  # minutes the tab stays open after they stop working (0: they stop it)
    bursts: tuple[tuple[int, int], ...]  # (start, length) in minutes from the start


def generate(path: Path, seed: int = SEED) -> None:
    """Sessions clustered around lab sessions and evenings, with a few GPU bursts each."""
    rng = random.Random(seed)
    rows = []
    for number in range(STUDENTS):
        student = f"student{number:03d}"
        free_from = 0
        for _ in range(rng.randint(2, 6)):
            day = rng.choice([0, 0, 1, 2, 2, 3, 4, 5, 6])  # Monday and Wednesday labs
            hour = rng.choice([10, 11, 14, 15, 16, 19, 20, 21, 22])
            arrive = max(free_from, day * 1440 + hour * 60 + rng.randint(0, 59))
            present = int(rng.lognormvariate(4.3, 0.5))  # about 75 minutes
            bursts, at = [], rng.randint(2, 15)
            while at < present:
                length = min(rng.randint(2, 15), present - at)
                bursts.append((at, length))
                at += length + rng.randint(10, 60)
            tab_open = 0 if rng.random() < 0.3 else rng.randint(60, 600)
            if arrive + present >= WEEK_MINUTES:
                continue
            rows.append((student, arrive, present, tab_open, bursts))
            free_from = arrive + present + tab_open + 60
    rows.sort(key=lambda row: (row[1], row[0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["student", "arrive_minute", "present_minutes", "tab_open_minutes", "bursts"]
        )
        for student, arrive, present, tab_open, bursts in rows:
            text = ";".join(f"{start}+{length}" for start, length in bursts)
            writer.writerow([student, arrive, present, tab_open, text])


def load(path: Path) -> list[Request]:
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    requests = []
    for line, row in enumerate(rows, start=2):
        try:
            bursts = tuple(
                (int(start), int(length))
                for start, length in (item.split("+") for item in row["bursts"].split(";") if item)
            )
            requests.append(
                Request(
                    row["student"],
                    int(row["arrive_minute"]),
                    int(row["present_minutes"]),
                    int(row["tab_open_minutes"]),
                    bursts,
                )
            )
        except (KeyError, ValueError) as error:
            raise SystemExit(f"{path}:{line}: cannot read the row: {error}") from None
    return requests


# ----- the simulation --------------------------------------------------------------------


def fleet_course(gpu: dict) -> Course:
    return Course.model_validate(
        {
            "id": "ai-200",
            "title": "200 students on 8 GPUs",
            "term": "bench",
            "students": [f"student{n:03d}" for n in range(STUDENTS)],
            "environments": [
                {"slug": "gpu", "display_name": "GPU", "image": "bench", "gpu": gpu},
                {"slug": "cpu", "display_name": "CPU", "image": "bench"},
            ],
            "gpu_policy": {
                "max_concurrent_gpus": GPUS,
                "gpu_idle_timeout_minutes": IDLE_TIMEOUT_MINUTES,
                "queue_when_full": True,
            },
        }
    )


BUSY_PERCENT = 85.0  # what a burst reports
IDLE_PERCENT = 2.0  # what an open notebook between bursts reports


@dataclass
class Running:
    request: Request
    start: int
    stopped: int | None = None
    busy_minutes: int = 0
    # The ledger's telemetry columns for this session.
    last_report: datetime | None = None
    last_gpu_busy_at: datetime | None = None
    used_gpu_hours: float = 0.0

    def report(self, course: Course, gpus: float, utilization: float, now: datetime) -> None:
        """One telemetry report, folded in as ``gpu_ledger.record_telemetry`` does."""
        gpu_busy = policy.is_gpu_busy(utilization, course)
        self.used_gpu_hours += policy.used_gpu_hours(
            gpus, self.last_report, now, gpu_busy, at(self.start)
        )
        self.last_report = now
        if gpu_busy:
            self.last_gpu_busy_at = now


@dataclass
class Outcome:
    name: str
    equivalents: float
    sessions: list[Running] = field(default_factory=list)
    waits: list[int] = field(default_factory=list)  # minutes, served requests
    unserved: list[int] = field(default_factory=list)  # minutes waited until the week ended
    dropped: int = 0
    restarts: int = 0
    concurrent: list[int] = field(default_factory=list)  # sessions running, per minute


def at(minute: int) -> datetime:
    return MONDAY + timedelta(minutes=minute)


def busy(request: Request, offset: int) -> bool:
    return any(start <= offset < start + length for start, length in request.bursts)


def rest_of_work(request: Request, offset: int, start: int) -> Request | None:
    """The request a student reclaimed at ``offset`` makes at their next burst (None: no
    GPU work left)."""
    later = [(s, n) for s, n in request.bursts if s >= offset]
    if not later or offset >= request.present:
        return None
    first = later[0][0]
    return Request(
        request.student,
        start + first,
        request.present - first,
        request.tab_open,
        tuple((s - first, n) for s, n in later),
    )


def simulate(name: str, requests: list[Request], gpu: dict, by_real_use: bool) -> Outcome:
    course = fleet_course(gpu)
    environment = course.environment("gpu")
    outcome = Outcome(name, environment.gpu_equivalents)
    pending = list(requests)  # by arrival
    queue: list[Request] = []
    running: list[Running] = []
    busy_students: set[str] = set()
    for minute in range(WEEK_MINUTES):
        now = at(minute)
        while pending and pending[0].arrive <= minute:
            request = pending.pop(0)
            if request.student in busy_students:
                outcome.dropped += 1
                continue
            busy_students.add(request.student)
            queue.append(request)
        for session in list(running):
            offset = minute - session.start
            request = session.request
            working = offset < request.present and busy(request, offset)
            utilization = BUSY_PERCENT if working else IDLE_PERCENT
            session.report(course, environment.gpu_equivalents, utilization, now)
            if request.tab_open == 0 and offset >= request.present:
                ended = True  # the student stops the server when done
            else:
                if by_real_use:
                    last_busy = session.last_gpu_busy_at
                else:  # before part B: an open tab's browser activity counted
                    last_busy = at(session.start + min(offset, request.present + request.tab_open))
                verdict = policy.judge(
                    course,
                    "student",
                    environment.gpu_equivalents,
                    at(session.start),
                    0.0,
                    environment.gpu_equivalents,
                    0.0,
                    last_busy,
                    now,
                )
                ended = verdict is not None and verdict.action == "stop"
            if ended:
                session.stopped = minute
                running.remove(session)
                busy_students.discard(request.student)
                again = rest_of_work(request, offset, session.start)
                if again is not None:
                    outcome.restarts += 1
                    insort(pending, again, key=lambda r: r.arrive)
            elif working:
                session.busy_minutes += 1
        while queue:
            held = len(running) * environment.gpu_equivalents
            decision = policy.admit(course, environment, "student", held, 0.0, 0.0, now)
            if not decision.admitted:
                break
            request = queue.pop(0)
            running.append(Running(request, minute))
            outcome.sessions.append(running[-1])
            outcome.waits.append(minute - request.arrive)
        outcome.concurrent.append(len(running))
    outcome.unserved = [WEEK_MINUTES - request.arrive for request in queue]
    return outcome


def percentile(values: list[int], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))])


def summary(outcome: Outcome) -> dict:
    end = at(WEEK_MINUTES)
    spans = [
        policy.Span(
            outcome.equivalents,
            at(s.start),
            at(s.stopped) if s.stopped is not None else None,
        )
        for s in outcome.sessions
    ]
    held = policy.gpu_hours(spans, MONDAY, end)
    used = sum(s.used_gpu_hours for s in outcome.sessions)  # as the ledger integrates it
    waits = outcome.waits + outcome.unserved
    return {
        "policy": outcome.name,
        "sessions_served": len(outcome.sessions),
        "never_served": len(outcome.unserved),
        "requests_dropped": outcome.dropped,
        "restarts_after_reclaim": outcome.restarts,
        "peak_at_once": max(outcome.concurrent),
        "students_served": len({s.request.student for s in outcome.sessions}),
        "gpu_hours_held": round(held, 1),
        "gpu_hours_used": round(used, 1),
        "used_of_held": round(used / held, 3) if held else 0.0,
        "work_hours_served": round(sum(s.busy_minutes for s in outcome.sessions) / 60, 1),
        "wait_p50_min": percentile(waits, 0.5),
        "wait_p95_min": percentile(waits, 0.95),
        "wait_max_min": max(waits) if waits else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generate", action="store_true", help="rewrite the recorded pattern")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if args.generate:
        generate(args.data)
    requests = load(args.data)
    asked = sum(length for r in requests for _, length in r.bursts) / 60
    print(
        f"{len(requests)} GPU sessions asked for by {len({r.student for r in requests})} "
        f"students in one week, {GPUS} GPUs, idle timeout {IDLE_TIMEOUT_MINUTES} min "
        f"({args.data.name}); {asked:.1f} hours of GPU work asked for"
    )
    started = time.perf_counter()
    whole = summary(simulate("whole", requests, {"count": 1}, by_real_use=False))
    shared_gpu = {"count": 1, "resource": "nvidia.com/gpu.shared", "share": 0.25}
    shared = summary(simulate("shared", requests, shared_gpu, by_real_use=True))
    elapsed = time.perf_counter() - started
    print(f"\n{'':<28}{'whole GPUs':>14}{'quarter shares':>16}")
    labels = {
        "sessions_served": "sessions served",
        "never_served": "still waiting at week end",
        "requests_dropped": "requests dropped (busy)",
        "restarts_after_reclaim": "asked again after reclaim",
        "peak_at_once": "students at once (peak)",
        "students_served": "students who got a GPU",
        "gpu_hours_held": "GPU-hours held",
        "gpu_hours_used": "GPU-hours used",
        "used_of_held": "used / held",
        "work_hours_served": "hours of GPU work done",
        "wait_p50_min": "wait p50 (min)",
        "wait_p95_min": "wait p95 (min)",
        "wait_max_min": "wait max (min)",
    }
    for key, label in labels.items():
        print(f"{label:<28}{whole[key]:>14}{shared[key]:>16}")
    ratios = {
        "at_once_peak": round(shared["peak_at_once"] / whole["peak_at_once"], 2),
        "students_served": round(shared["students_served"] / whole["students_served"], 2),
        "work_hours_served": round(shared["work_hours_served"] / whole["work_hours_served"], 2),
        "used_of_held": round(shared["used_of_held"] / whole["used_of_held"], 2),
        # whole over shared, each floored at one minute (a wait of 0 has no ratio)
        "wait_p95_whole_over_shared": round(
            max(whole["wait_p95_min"], 1) / max(shared["wait_p95_min"], 1), 1
        ),
    }
    print(f"\nsimulated both weeks in {elapsed:.1f} s")
    print(json.dumps({"whole": whole, "shared": shared, "ratio_shared_vs_whole": ratios}))


if __name__ == "__main__":
    main()
