"""Spawn latency on the dev cluster: coursehub's CourseSpawner against a plain KubeSpawner.

For each variant (``coursehub``: CourseSpawner, ``kubespawner``: unmodified KubeSpawner with the
same profiles as a static ``profile_list``) it starts a platform (dev cluster, proxy, hub), then
for each user count N starts N servers at once through the REST API and times each from the
spawn request to the progress stream's ``ready`` event. Servers are stopped between rounds.

Rounds of up to ``--real-up-to`` users run the real ``jupyterhub-singleuser``; larger rounds
use ``bench/light_server.py`` as the pod command (100 JupyterLabs would measure JupyterLab on
2 cores, not the platform). The overhead ratio is coursehub's median over KubeSpawner's for the
same round, measured in the same run. The last line printed is one JSON object.

    .venv/bin/python bench/spawn.py                 # 1, 20 and 100 users
    .venv/bin/python bench/spawn.py --users 1,5     # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_configs import write_hub_config

from coursehub.dev import Platform, PlatformConfig

COURSE_ID = "bench"
PROFILE = f"{COURSE_ID}-light"


def write_catalog(root: Path, users: int) -> Path:
    course_dir = root / "courses" / COURSE_ID
    course_dir.mkdir(parents=True)
    students = "\n".join(f"  - bench-{i:03d}" for i in range(1, users + 1))
    (course_dir / "course.yaml").write_text(
        f"""\
id: {COURSE_ID}
title: Spawn benchmark
term: bench
staff:
  instructors: [bench-instructor]
students:
{students}
environments:
  - slug: light
    display_name: "Bench · CPU"
    image: ghcr.io/coursehub/notebook-cpu:2026.11
    cpu: {{guarantee: 10m, limit: 1}}
    memory: {{guarantee: 32Mi, limit: 1Gi}}
"""
    )
    return root / "courses"


async def spawn_and_wait(session: aiohttp.ClientSession, hub: str, user: str) -> float:
    """Seconds from the spawn request to the ready event of the user's progress stream."""
    started = time.perf_counter()
    async with session.post(
        f"{hub}/hub/api/users/{user}/server", json={"profile": PROFILE}
    ) as response:
        if response.status not in (201, 202):
            raise RuntimeError(f"spawn of {user}: HTTP {response.status} {await response.text()}")
    if response.status == 201:
        return time.perf_counter() - started
    async with session.get(
        f"{hub}/hub/api/users/{user}/server/progress",
        timeout=aiohttp.ClientTimeout(total=900),
    ) as stream:
        async for raw in stream.content:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:])
            if event.get("ready"):
                return time.perf_counter() - started
            if event.get("failed"):
                raise RuntimeError(f"spawn of {user} failed: {event.get('message')}")
    raise RuntimeError(f"progress stream of {user} ended before the server was ready")


async def stop_all(session: aiohttp.ClientSession, hub: str, users: list[str]) -> None:
    await asyncio.gather(*(session.delete(f"{hub}/hub/api/users/{user}/server") for user in users))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        async with session.get(f"{hub}/hub/api/users") as response:
            running = [u["name"] for u in await response.json() if u.get("servers")]
        if not running:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"servers did not stop: {running}")


async def measure_round(platform: Platform, users: list[str]) -> list[float]:
    headers = {"Authorization": f"token {platform.admin_token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for user in users:  # make sure the users exist (the catalog's, created on first use)
            await session.post(f"{platform.hub_url}/hub/api/users/{user}")
        try:
            return list(
                await asyncio.gather(
                    *(spawn_and_wait(session, platform.hub_url, user) for user in users)
                )
            )
        finally:
            await stop_all(session, platform.hub_url, users)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def run_variant(work: Path, variant: str, counts: list[int], real_up_to: int) -> dict:
    results = {}
    courses = write_catalog(work / variant, max(counts))
    for light in sorted({count > real_up_to for count in counts}):
        config = write_hub_config(
            work / f"{variant}-{'light' if light else 'real'}.py",
            plain=variant == "kubespawner",
            light=light,
        )
        platform = Platform(
            PlatformConfig(
                state_dir=work / f"{variant}-state-{'light' if light else 'real'}",
                courses_dir=courses,
                port=0,
                hub_config=config,
            )
        )
        with platform:
            for count in (c for c in counts if (c > real_up_to) == light):
                users = [f"bench-{i:03d}" for i in range(1, count + 1)]
                print(
                    f"  {variant}: {count} user(s), {'light' if light else 'real'} pods…",
                    flush=True,
                )
                times = asyncio.run(measure_round(platform, users))
                results[count] = {
                    "median_s": round(statistics.median(times), 3),
                    "p95_s": round(percentile(times, 0.95), 3),
                    "max_s": round(max(times), 3),
                    "pod": "light" if light else "jupyterhub-singleuser",
                }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="1,20,100", help="comma-separated user counts")
    parser.add_argument(
        "--real-up-to",
        type=int,
        default=20,
        help="rounds up to this many users run jupyterhub-singleuser; larger ones a light server",
    )
    args = parser.parse_args()
    counts = sorted({int(n) for n in args.users.split(",")})
    with tempfile.TemporaryDirectory(prefix="coursehub-bench-") as tmp:
        work = Path(tmp)
        figures = {
            variant: run_variant(work, variant, counts, args.real_up_to)
            for variant in ("coursehub", "kubespawner")
        }
    print(
        f"\n{'users':>5}  {'pod':<22} {'coursehub median/p95 (s)':>26} "
        f"{'kubespawner median/p95 (s)':>28} {'ratio':>6}"
    )
    summary = {"rounds": []}
    for count in counts:
        ours, base = figures["coursehub"][count], figures["kubespawner"][count]
        ratio = ours["median_s"] / base["median_s"] if base["median_s"] else float("nan")
        print(
            f"{count:>5}  {ours['pod']:<22} {ours['median_s']:>12.3f} / {ours['p95_s']:<11.3f} "
            f"{base['median_s']:>13.3f} / {base['p95_s']:<12.3f} {ratio:>6.2f}"
        )
        summary["rounds"].append(
            {
                "users": count,
                "coursehub": ours,
                "kubespawner": base,
                "overhead_ratio_median": round(ratio, 3),
            }
        )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
