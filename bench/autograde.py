"""Autograding throughput: coursehub's grading pods against ``nbgrader autograde``.

    .venv/bin/python bench/autograde.py --students 100

Builds two identical nbgrader folders of ai-101's ps1 with N submissions (alternately full
marks and partly wrong), then grades one with coursehub (a dev cluster in this process, the
service's ``GradingRun``: grading pods, each submission in its own sandboxed process) and
the other with ``nbgrader autograde ps1`` (one command for all students, as an instructor
runs it), on this machine, in this run. It checks both gave every student the same score and
prints both wall times; the last line is one JSON object::

    {"students": N, "coursehub_s": …, "nbgrader_s": …, "ratio": nbgrader_s / coursehub_s}

``--parallelism`` sets the grading pods at once (default: this machine's CPU count; the dev
cluster advertises more CPUs than the machine has, so "auto" would oversubscribe it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "assignments"))

from course_folder import ASSIGNMENT, honest_course, nbgrader, scores  # noqa: E402
from grading_harness import dev_cluster, grade_with_pods  # noqa: E402

from coursehub.grading.settings import GradingSettings  # noqa: E402


async def coursehub_grade(root: Path, students: list[str], parallelism: int) -> float:
    async with dev_cluster(root.parent / "devcluster") as cluster:
        started = time.perf_counter()
        progress = await grade_with_pods(
            cluster,
            root,
            students,
            settings=GradingSettings(parallelism=parallelism, masked_paths=(str(root),)),
        )
        elapsed = time.perf_counter() - started
    if progress.failed:
        sys.exit(f"coursehub failed to grade: {progress.message()}")
    return elapsed


def nbgrader_grade(root: Path) -> float:
    started = time.perf_counter()
    result = nbgrader(root, "autograde", ASSIGNMENT, "--force")
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit("nbgrader autograde failed:\n" + (result.stdout + result.stderr)[-3000:])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--parallelism", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="coursehub-bench-autograde-"))
    try:
        ours, theirs = work / "coursehub" / "course", work / "nbgrader" / "course"
        ours.mkdir(parents=True)
        theirs.mkdir(parents=True)
        print(f"preparing {args.students} submissions of {ASSIGNMENT} twice ...", flush=True)
        kinds = honest_course(ours, args.students)
        honest_course(theirs, args.students)
        students = sorted(kinds)

        print(f"coursehub: grading pods, {args.parallelism} at a time ...", flush=True)
        coursehub_s = asyncio.run(coursehub_grade(ours, students, args.parallelism))
        print(f"  {coursehub_s:.1f} s ({args.students / coursehub_s:.2f} submissions/s)")
        print("nbgrader autograde (one command, all students) ...", flush=True)
        nbgrader_s = nbgrader_grade(theirs)
        print(f"  {nbgrader_s:.1f} s ({args.students / nbgrader_s:.2f} submissions/s)")

        ours_scores, their_scores = scores(ours), scores(theirs)
        differing = {s for s in students if ours_scores.get(s) != their_scores.get(s)}
        if differing:
            sys.exit(f"scores differ for {sorted(differing)[:5]}: coursehub {ours_scores}")
        print(f"same score for all {len(students)} students (e.g. 10 full, 7 partial)")
        ratio = nbgrader_s / coursehub_s
        print(f"coursehub is {ratio:.1f}x nbgrader's throughput")
        print(
            json.dumps(
                {
                    "students": args.students,
                    "coursehub_s": round(coursehub_s, 2),
                    "nbgrader_s": round(nbgrader_s, 2),
                    "ratio": round(ratio, 2),
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
