"""Cost of one GPU admission decision with a full ledger, on SQLite and PostgreSQL.

The ledger holds ``--users`` students (2,000) in ``--courses`` courses (50), each with
``--sessions`` past GPU sessions (20) spread over the last four weeks, and one student in
ten with a server running now. Each decision is what the service does for a GPU spawn
(``api/gpu/admissions``) once the course's lock row exists (the service creates it at the
course's first GPU spawn and remembers that): in one transaction lock the course, count the
GPUs it holds, sum the student's GPU-hours this week and their extra hours, decide, and
insert the session (or the refusal), committed. Random students,
their own course; each admitted session is closed again outside the timing, so the ledger
stays the same size.

Prints a table, then one JSON line: ``ms_per_decision`` is the slower database's mean, and
``ratio`` is the issue's target (10 ms) divided by it (above 1: under the target).

    .venv/bin/python bench/admission.py                 # both databases
    .venv/bin/python bench/admission.py --db sqlite     # without PostgreSQL
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from coursehub.catalog.model import Course
from coursehub.service import gpu_ledger as ledger
from coursehub.service.db import Database
from coursehub.service.models import GPUSession

TARGET_MS = 10.0
NOW = datetime.now(UTC)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))


def courses(count: int, users: int) -> list[Course]:
    per_course = users // count
    return [
        Course.model_validate(
            {
                "id": f"course-{c:02d}",
                "title": f"Course {c}",
                "term": "bench",
                "students": [f"student-{c:02d}-{s:03d}" for s in range(per_course)],
                "environments": [
                    {
                        "slug": "gpu",
                        "display_name": "1 GPU",
                        "image": "coursehub/notebook-gpu:bench",
                        "cpu": {"guarantee": 1, "limit": 2},
                        "memory": {"guarantee": "1Gi", "limit": "2Gi"},
                        "gpu": {"count": 1},
                    }
                ],
                "gpu_policy": {
                    "max_concurrent_gpus": per_course // 2,
                    "gpu_hours_per_student_per_week": 10,
                },
            }
        )
        for c in range(count)
    ]


def seed(db: Database, catalog: list[Course], sessions_per_user: int, rng: random.Random) -> int:
    rows = []
    for course in catalog:
        for index, student in enumerate(course.students):
            for _ in range(sessions_per_user):
                start = NOW - timedelta(minutes=rng.randint(60, 28 * 24 * 60))
                rows.append(
                    {
                        "username": student,
                        "server_name": "",
                        "course": course.id,
                        "environment": "gpu",
                        "resource": "nvidia.com/gpu",
                        "gpus": 1,
                        "role": "student",
                        "admitted_at": start,
                        "started_at": start,
                        "last_seen_at": start,
                        "stopped_at": start + timedelta(minutes=rng.randint(5, 50)),
                        "stop_reason": "stopped",
                    }
                )
            if index % 10 == 0:  # one in ten runs a server now
                start = NOW - timedelta(minutes=rng.randint(1, 50))
                rows.append(
                    {
                        "username": f"{student}",
                        "server_name": "running",
                        "course": course.id,
                        "environment": "gpu",
                        "resource": "nvidia.com/gpu",
                        "gpus": 1,
                        "role": "student",
                        "admitted_at": start,
                        "started_at": start,
                    }
                )
    with db.sessions() as session, session.begin():
        for chunk in range(0, len(rows), 5000):
            session.execute(insert(GPUSession), rows[chunk : chunk + 5000])
        for course in catalog:
            ledger.ensure_course_lock(session, course.id)
    return len(rows)


def decide(db: Database, catalog: list[Course], decisions: int, rng: random.Random) -> list[float]:
    timings = []
    for _ in range(decisions):
        course = rng.choice(catalog)
        student = rng.choice(course.students)
        gpu = course.environments[0]
        started = time.perf_counter()
        admission = db.run_sync(
            lambda s, c=course, u=student, e=gpu: ledger.admit_session(
                s, c, e, u, "", "student", NOW
            )
        )
        timings.append((time.perf_counter() - started) * 1000)
        if admission.session_id is not None:
            db.run_sync(lambda s, u=student: ledger.close(s, u, "", "stopped", NOW))
    return timings


def measure(url: str, args, label: str) -> dict:
    rng = random.Random(7)
    db = Database(url)
    db.upgrade()
    catalog = courses(args.courses, args.users)
    started = time.perf_counter()
    rows = seed(db, catalog, args.sessions, rng)
    print(f"{label}: {rows} sessions in the ledger ({time.perf_counter() - started:.1f} s)")
    decide(db, catalog, 50, rng)  # warm caches and the connection pool
    timings = decide(db, catalog, args.decisions, rng)
    db.close()
    ordered = sorted(timings)
    return {
        "db": label,
        "ledger_sessions": rows,
        "mean_ms": statistics.fmean(timings),
        "p50_ms": ordered[len(ordered) // 2],
        "p95_ms": ordered[int(len(ordered) * 0.95)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--courses", type=int, default=50)
    parser.add_argument("--sessions", type=int, default=20, help="past sessions per student")
    parser.add_argument("--decisions", type=int, default=1000)
    parser.add_argument("--db", choices=("both", "sqlite", "postgresql"), default="both")
    args = parser.parse_args()
    results = []
    with contextlib.ExitStack() as stack:
        if args.db in ("both", "sqlite"):
            folder = Path(tempfile.mkdtemp(prefix="coursehub-bench-"))
            stack.callback(shutil.rmtree, folder, ignore_errors=True)
            results.append(measure(f"sqlite:///{folder / 'ledger.sqlite'}", args, "sqlite"))
        if args.db in ("both", "postgresql"):
            from postgres import running_postgres

            url = stack.enter_context(running_postgres())
            results.append(measure(url, args, "postgresql"))
    print(f"\n{'database':<12}{'sessions':>10}{'mean ms':>10}{'p50 ms':>10}{'p95 ms':>10}")
    for row in results:
        print(
            f"{row['db']:<12}{row['ledger_sessions']:>10}{row['mean_ms']:>10.2f}"
            f"{row['p50_ms']:>10.2f}{row['p95_ms']:>10.2f}"
        )
    worst = max(row["mean_ms"] for row in results)
    summary = {
        "users": args.users,
        "courses": args.courses,
        "decisions": args.decisions,
        **{f"{row['db']}_ms": round(row["mean_ms"], 3) for row in results},
        **{f"{row['db']}_p95_ms": round(row["p95_ms"], 3) for row in results},
        "ms_per_decision": round(worst, 3),
        "target_ms": TARGET_MS,
        "ratio": round(TARGET_MS / worst, 2),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
