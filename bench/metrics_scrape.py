"""Cost of one Prometheus scrape of the coursehub service (``GET api/metrics``), on SQLite.

What a scrape does besides answering: read the open GPU sessions from the ledger
(``gpu_ledger.open_totals``, one grouped query), set the per-course gauges, and render every
series as text (in a worker thread in the service: the loop does not wait for that part).
The ledger holds ``--courses`` GPU courses (50) with ``--open`` open sessions (1,000) among
``--closed`` closed ones (50,000); the registry holds what a busy term leaves: the
GPU counters of every course, grading histograms per course, and request-latency
histograms for ``--handlers`` handlers (25) x 3 methods x 5 status codes.

Prints a table, then one JSON line (``ms_per_scrape``: the mean; ``bytes``: the answer's
size; ``series``: samples in it).

    .venv/bin/python bench/metrics_scrape.py
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from coursehub.service import gpu_ledger
from coursehub.service.db import Database
from coursehub.service.metrics import ServiceMetrics
from coursehub.service.models import GPUSession

NOW = datetime.now(UTC)


def seed(db: Database, courses: list[str], open_count: int, closed: int, rng) -> None:
    rows = []
    for index in range(open_count + closed):
        start = NOW - timedelta(minutes=rng.randint(5, 28 * 24 * 60))
        is_open = index < open_count
        rows.append(
            {
                "username": f"user-{index:06d}",
                "server_name": "",
                "course": rng.choice(courses),
                "environment": "gpu",
                "resource": "nvidia.com/gpu",
                "gpus": 1,
                "gpu_equivalents": rng.choice((1.0, 0.25)),
                "role": "student",
                "admitted_at": start,
                "started_at": start,
                "stopped_at": None if is_open else start + timedelta(minutes=30),
                "last_seen_at": start,
            }
        )
    db.run_sync(lambda session: session.execute(insert(GPUSession), rows))


def busy_registry(metrics: ServiceMetrics, courses: list[str], handlers: int, rng) -> None:
    for course in courses:
        metrics.admitted(course)
        for reason in ("cap", "budget", "not_member"):
            metrics.refused(course, reason)
        metrics.grading_job_ended(course, "done", rng.uniform(10, 900), graded=30, failed=1)
    for handler in range(handlers):
        for method in ("GET", "POST", "DELETE"):
            for code in (200, 201, 400, 403, 404):
                metrics.request_finished(f"Handler{handler}", method, code, rng.random())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--courses", type=int, default=50)
    parser.add_argument("--open", type=int, default=1000)
    parser.add_argument("--closed", type=int, default=50_000)
    parser.add_argument("--handlers", type=int, default=25)
    parser.add_argument("--scrapes", type=int, default=50)
    args = parser.parse_args()
    rng = random.Random(18)
    courses = [f"course-{n:02d}" for n in range(args.courses)]
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{Path(folder) / 'bench.sqlite'}")
        db.upgrade()
        seed(db, courses, args.open, args.closed, rng)
        metrics = ServiceMetrics()
        busy_registry(metrics, courses, args.handlers, rng)

        def read_open_sessions() -> dict[str, tuple[int, float]]:
            return db.run_sync(gpu_ledger.open_totals)

        read_open_sessions()  # warm the connection and the query plan
        read_ms, render_ms = [], []
        for _ in range(args.scrapes):
            started = time.perf_counter()
            sessions = read_open_sessions()
            read = time.perf_counter()
            metrics.set_open_sessions(courses, sessions)
            text = metrics.exposition()
            read_ms.append((read - started) * 1000)
            render_ms.append((time.perf_counter() - read) * 1000)
        db.close()
    series = sum(1 for line in text.decode().splitlines() if line and not line.startswith("#"))
    total = [a + b for a, b in zip(read_ms, render_ms, strict=True)]
    print(f"{'part':<28}{'mean ms':>10}{'max ms':>10}")
    for name, times in (
        ("read open sessions", read_ms),
        ("gauges + text exposition", render_ms),
        ("whole scrape", total),
    ):
        print(f"{name:<28}{statistics.mean(times):>10.2f}{max(times):>10.2f}")
    print(
        json.dumps(
            {
                "ms_per_scrape": round(statistics.mean(total), 2),
                "bytes": len(text),
                "series": series,
                "open_sessions": args.open,
                "closed_sessions": args.closed,
            }
        )
    )


if __name__ == "__main__":
    main()
