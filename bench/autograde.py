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

It also prints what the isolation costs per submission, measured as a grading pod pays it
(root, this machine's sandbox): a process forked from the zygote until it is ready, against
a fresh interpreter importing the same (the exec-per-submission design), and the feedback
run (ps1 has hidden tests, so it runs twice): the runner over the same submissions' cells
with and without their hidden-test-free version.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "assignments"))

from course_folder import ASSIGNMENT, honest_course, nbgrader, scores  # noqa: E402
from grading_harness import dev_cluster, grade_with_pods  # noqa: E402

from coursehub.grading.channel import read_message  # noqa: E402
from coursehub.grading.protocol import code_cells  # noqa: E402
from coursehub.grading.sandbox import Limits, Sandbox  # noqa: E402
from coursehub.grading.settings import GradingSettings  # noqa: E402
from coursehub.grading.zygote import Zygote  # noqa: E402
from coursehub.linux import PR_SET_CHILD_SUBREAPER, prctl  # noqa: E402

UID = 390_000  # a user no one else on this machine has
PRELOAD = ["numpy"]


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


def zygote_fork_ms(work: Path, samples: int) -> list[float]:
    """Milliseconds from asking the zygote for a confined process to its "ready"."""
    prctl(PR_SET_CHILD_SUBREAPER, 1, "child subreaper")  # its processes become ours
    sandbox = Sandbox.for_this_pod(Limits())
    zygote = Zygote(sandbox, PRELOAD)
    zygote.start()
    times = []
    try:
        for number in range(samples):
            folder = work / f"zygote-{number}"
            sandbox.prepare_folder(folder, UID)
            started = time.perf_counter()
            pid, to_child, from_child = zygote.spawn(UID, folder, {"HOME": str(folder)})
            assert read_message(from_child) == {"ready": True}
            times.append(1000 * (time.perf_counter() - started))
            sandbox.kill_all(UID, pid)
            os.waitpid(pid, 0)
            os.close(to_child)
            os.close(from_child)
    finally:
        zygote.stop()
    return times


def fresh_interpreter_ms(samples: int) -> list[float]:
    """Milliseconds for a fresh interpreter to import what the zygote preloads and make the
    grading shell: what a design that execs one per submission pays each time."""
    code = (
        "import numpy\nfrom coursehub.grading.shell import make_shell\n"
        "make_shell(1024)\nimport os\nos.write(1, b'ready\\n')"
    )
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        assert process.stdout.readline() == b"ready\n"
        times.append(1000 * (time.perf_counter() - started))
        process.kill()
        process.wait()
    return times


def feedback_run_ms(work: Path, submissions: int) -> float:
    """Extra milliseconds per submission of the feedback run: the runner over the same
    full-marks ps1 cells with their hidden-test-free version, and without it."""
    import nbformat

    notebook = nbformat.read(REPO_ROOT / "courses/ai-101/source/ps1/ps1.ipynb", as_version=4)
    cells = code_cells(notebook)  # the instructor's solutions: full marks
    seconds = {}
    for name, with_feedback in (("one run", False), ("two runs", True)):
        folder = work / name.replace(" ", "-")
        shown = (
            cells
            if with_feedback
            else [{k: v for k, v in c.items() if k != "shown"} for c in cells]
        )
        _write_batch(folder, shown, submissions)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "coursehub.grading.runner", str(folder)],
            check=True,
            capture_output=True,
        )
        seconds[name] = time.perf_counter() - started
    return 1000 * (seconds["two runs"] - seconds["one run"]) / submissions


def _write_batch(folder: Path, cells: list[dict], submissions: int) -> None:
    keys = [f"student{number:03d}" for number in range(submissions)]
    (folder / "in").mkdir(parents=True)
    batch = {"limits": {}, "uid_base": UID, "submissions": keys, "preload": PRELOAD}
    (folder / "in" / "batch.json").write_text(json.dumps(batch))
    for index, key in enumerate(keys):
        (folder / "in" / str(index) / "files").mkdir(parents=True)
        spec = {"key": key, "notebooks": [{"name": "ps1", "cells": cells}]}
        (folder / "in" / str(index) / "cells.json").write_text(json.dumps(spec))


def isolation_costs(work: Path, samples: int = 20) -> dict[str, float]:
    work.chmod(0o711)  # submissions' own folders are below: they may pass, not list
    zygote = statistics.median(zygote_fork_ms(work, samples))
    fresh = statistics.median(fresh_interpreter_ms(samples))
    feedback = feedback_run_ms(work, samples)
    print(f"a process from the zygote, ready: {zygote:.0f} ms (median of {samples})")
    print(f"a fresh interpreter, ready (exec per submission): {fresh:.0f} ms")
    print(f"the feedback run of ps1 (hidden tests: two runs): +{feedback:.0f} ms per submission")
    return {
        "zygote_fork_ms": round(zygote, 1),
        "fresh_interpreter_ms": round(fresh, 1),
        "feedback_run_ms": round(feedback, 1),
    }


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
        print("what the isolation costs per submission ...", flush=True)
        costs = isolation_costs(work)
        print(
            json.dumps(
                {
                    "students": args.students,
                    "coursehub_s": round(coursehub_s, 2),
                    "nbgrader_s": round(nbgrader_s, 2),
                    "ratio": round(ratio, 2),
                    **costs,
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
