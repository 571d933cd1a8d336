"""Submitting and collecting through the coursehub service against nbgrader's filesystem
exchange, on the same machine in the same run.

N students (``--students``, default 200) each submit a notebook of ``--size-mb`` (1 MB: a
valid notebook padded with a large output), ``--concurrency`` at a time (default 20); then
staff collect all of them once.

- coursehub: a real platform (dev cluster, proxy, hub, the service it manages); every
  student has their own hub token and submits to the service the way notebook pods do
  (``POST …/submissions`` to ``COURSEHUB_SERVICE_URL``); collect is the CLI's server-side
  ``actions/collect`` (the collect rule, then the files into the course's nbgrader folder).
- nbgrader: its default ``ExchangeSubmit`` and ``ExchangeCollect`` classes in-process (as
  the JupyterLab extension runs them in each student's server), on an exchange folder in a
  temporary directory, with the same threads of concurrency.

Prints a table, and last one JSON line with p50/p95 submit latencies, collect seconds and
the ratios nbgrader / coursehub (above 1: coursehub is faster).

    .venv/bin/python bench/exchange.py                  # 200 students, 1 MB
    .venv/bin/python bench/exchange.py --students 20    # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp

from coursehub.dev import Platform, PlatformConfig
from coursehub.exchange.archive import pack_files

COURSE = "bench-101"
ASSIGNMENT = "ps1"


def padded_notebook(size_mb: float) -> bytes:
    """A valid notebook of about ``size_mb``: one cell whose output is a long text."""
    filler = "x" * int(size_mb * 1024 * 1024)
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": 1,
                    "id": "answer",
                    "metadata": {},
                    "outputs": [{"name": "stdout", "output_type": "stream", "text": filler}],
                    "source": "print('x' * 1048576)",
                }
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    ).encode()


def students(count: int) -> list[str]:
    return [f"s{i:03d}" for i in range(1, count + 1)]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def progress(label: str, done: int, total: int) -> None:
    print(f"\r  {label}: {done}/{total}", end="" if done < total else "\n", file=sys.stderr)


# ----- coursehub ---------------------------------------------------------------------------


def write_catalog(root: Path, names: list[str]) -> Path:
    folder = root / "courses" / COURSE
    folder.mkdir(parents=True)
    roster = "\n".join(f"  - {name}" for name in names)
    (folder / "course.yaml").write_text(
        f"""\
id: {COURSE}
title: Exchange benchmark
term: bench
staff:
  instructors: [bench-teacher]
students:
{roster}
environments:
  - slug: cpu
    display_name: "Bench · CPU"
    image: ghcr.io/coursehub/notebook-cpu:2026.11
"""
    )
    return root / "courses"


async def run_coursehub(names: list[str], notebook: bytes, concurrency: int, root: Path) -> dict:
    courses = write_catalog(root, names)
    platform = Platform(
        PlatformConfig(
            state_dir=root / "state",
            courses_dir=courses,
            port=0,
            extra_hub_env={"COURSEHUB_MAX_FILE_MB": "50"},
        )
    )
    print("coursehub: starting the platform…", file=sys.stderr)
    platform.start()
    try:
        admin = {"Authorization": f"token {platform.admin_token}"}
        api = f"{platform.service_url}/api/courses/{COURSE}/assignments/{ASSIGNMENT}"
        async with aiohttp.ClientSession() as session:
            release = pack_files({"ps1.ipynb": padded_notebook(0.001)})
            async with session.put(f"{api}/release", data=release, headers=admin) as response:
                assert response.status == 201, await response.text()
            tokens = {}
            for index, name in enumerate(names, 1):
                async with session.post(
                    f"{platform.hub_url}/hub/api/users/{name}/tokens",
                    json={"note": "bench"},
                    headers=admin,
                ) as response:
                    assert response.status == 201, await response.text()
                    tokens[name] = (await response.json())["token"]
                progress("tokens", index, len(names))

            upload = pack_files({"ps1.ipynb": notebook})
            gate = asyncio.Semaphore(concurrency)
            latencies: list[float] = []

            async def submit(name: str) -> None:
                async with gate:
                    started = time.perf_counter()
                    async with session.post(
                        f"{api}/submissions",
                        data=upload,
                        headers={
                            "Authorization": f"token {tokens[name]}",
                            "Content-Type": "application/gzip",
                        },
                    ) as response:
                        assert response.status == 201, await response.text()
                    latencies.append(time.perf_counter() - started)
                    progress("coursehub submits", len(latencies), len(names))

            wall = time.perf_counter()
            await asyncio.gather(*(submit(name) for name in names))
            submit_wall = time.perf_counter() - wall

            started = time.perf_counter()
            async with session.post(
                f"{api}/actions/collect", headers=admin, timeout=aiohttp.ClientTimeout(600)
            ) as response:
                assert response.status == 200, await response.text()
                collected = len((await response.json())["collected"])
            collect_s = time.perf_counter() - started
        assert collected == len(names), collected
        return {"latencies": latencies, "submit_wall": submit_wall, "collect_s": collect_s}
    finally:
        platform.stop()


# ----- nbgrader's filesystem exchange --------------------------------------------------------


def run_nbgrader(names: list[str], notebook: bytes, concurrency: int, root: Path) -> dict:
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeCollect, ExchangeReleaseAssignment, ExchangeSubmit
    from traitlets.config import Config

    exchange = root / "exchange"
    exchange.mkdir()
    course_root = root / "course"
    (course_root / "release" / ASSIGNMENT).mkdir(parents=True)
    (course_root / "release" / ASSIGNMENT / "ps1.ipynb").write_bytes(padded_notebook(0.001))

    def config(**course) -> Config:
        settings = Config()
        settings.Exchange.root = str(exchange)
        settings.Exchange.cache = str(root / "cache")
        settings.CourseDirectory.course_id = COURSE
        settings.CourseDirectory.assignment_id = ASSIGNMENT
        settings.CourseDirectory.max_file_size = 1024 * 1024  # kB: do not skip the notebook
        for key, value in course.items():
            setattr(settings.CourseDirectory, key, value)
        return settings

    def make(cls, settings: Config):
        return cls(
            coursedir=CourseDirectory(config=settings),
            authenticator=Authenticator(config=settings),
            config=settings,
        )

    make(ExchangeReleaseAssignment, config(root=str(course_root))).start()
    for name in names:  # each student's fetched copy, answered
        folder = root / "students" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / "ps1.ipynb").write_bytes(notebook)

    latencies: list[float] = []

    def submit(name: str) -> None:
        settings = config(student_id=name)
        settings.Exchange.assignment_dir = str(root / "students" / name)
        started = time.perf_counter()
        make(ExchangeSubmit, settings).start()
        latencies.append(time.perf_counter() - started)
        progress("nbgrader submits", len(latencies), len(names))

    wall = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(submit, names))
    submit_wall = time.perf_counter() - wall

    started = time.perf_counter()
    make(ExchangeCollect, config(root=str(course_root))).start()
    collect_s = time.perf_counter() - started
    collected = len(list((course_root / "submitted").iterdir()))
    assert collected == len(names), collected
    return {"latencies": latencies, "submit_wall": submit_wall, "collect_s": collect_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--size-mb", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args(argv)
    # nbgrader's gradebook (used by its collect) runs the `alembic` command of this venv.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    names = students(args.students)
    notebook = padded_notebook(args.size_mb)
    with tempfile.TemporaryDirectory(prefix="bench-exchange-") as scratch:
        root = Path(scratch)
        (root / "nbgrader").mkdir()
        baseline = run_nbgrader(names, notebook, args.concurrency, root / "nbgrader")
        shutil.rmtree(root / "nbgrader")
        (root / "coursehub").mkdir()
        ours = asyncio.run(run_coursehub(names, notebook, args.concurrency, root / "coursehub"))

    def row(label: str, result: dict) -> dict:
        figures = {
            "submit_p50_ms": 1000 * statistics.median(result["latencies"]),
            "submit_p95_ms": 1000 * percentile(result["latencies"], 0.95),
            "submit_wall_s": result["submit_wall"],
            "collect_s": result["collect_s"],
        }
        print(
            f"{label:<10} submit p50 {figures['submit_p50_ms']:8.1f} ms   "
            f"p95 {figures['submit_p95_ms']:8.1f} ms   all {figures['submit_wall_s']:6.2f} s   "
            f"collect {figures['collect_s']:6.2f} s"
        )
        return figures

    print(f"\n{args.students} students, {args.size_mb:g} MB notebook, {args.concurrency} at once")
    mine, theirs = row("coursehub", ours), row("nbgrader", baseline)
    summary = {
        "students": args.students,
        "size_mb": args.size_mb,
        "concurrency": args.concurrency,
        **{f"coursehub_{key}": round(value, 3) for key, value in mine.items()},
        **{f"nbgrader_{key}": round(value, 3) for key, value in theirs.items()},
        "submit_p50_ratio": round(theirs["submit_p50_ms"] / mine["submit_p50_ms"], 3),
        "collect_ratio": round(theirs["collect_s"] / mine["collect_s"], 3),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
