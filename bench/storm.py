"""The start of a class: N students sign in, start a server, open a kernel and run a cell.

For each variant (``coursehub``: CourseSpawner; ``kubespawner``: unmodified KubeSpawner with
the same profiles, see ``hub_configs.py``) it starts a platform on the dev cluster (cluster,
proxy, hub) with one course of N students. The N students arrive evenly spread over
``--window`` seconds (60: everyone opens the laptop when the class starts) and each does what
a browser does, through the proxy:

1. ``GET /hub/login``, then ``POST /hub/login`` with the demo password and ``_xsrf``;
2. the spawn form: ``POST /hub/spawn`` with the course's environment (if a form is shown);
3. the progress stream (``GET /hub/api/users/<name>/server/progress``, cookie + XSRF header)
   until ``ready``;
4. ``POST /user/<name>/api/kernels`` and one cell over the kernel's websocket, until its
   ``execute_reply``.

Time to a running cell is measured from the student's arrival to the ``execute_reply``. Pods
run ``light_kernel_server.py``: a small server with a kernel that evaluates the cell, so the
figures are the platform's (hub, proxy, dev cluster), not 500 JupyterLabs on 2 cores. The
hub's event-loop lag is its own Prometheus histogram (``jupyterhub_event_loop_interval_seconds``,
sampled every 50 ms) read from ``/hub/metrics`` before and after the storm. A student whose
flow fails or takes longer than ``--give-up`` seconds counts as a failure, with the reason.

    .venv/bin/python bench/storm.py                   # 100, 300 and 500 students
    .venv/bin/python bench/storm.py --students 20     # a quick look

The goal (issue 18): 500 students with 0 failures and p95 <= 30 s. The last line printed is
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_configs import write_hub_config
from spawn import PROFILE, percentile, write_catalog

from coursehub.dev import Platform, PlatformConfig
from coursehub.devcluster.config import DEFAULT_CONFIG

KERNEL_SERVER = Path(__file__).resolve().parent / "light_kernel_server.py"
CELL = "sum(range(10))"
STUDENT_NUMBER = re.compile(r"-\d+\b")
XSRF_FIELD = re.compile(r'name="_xsrf"\s+value="([^"]+)"')
SPAWN_ACTION = re.compile(r'id="spawn_form"\s+action="([^"]+)"')  # its URL carries _xsrf
# Room for N servers at once: JupyterHub's defaults are far below a class of 500.
LIMITS = """
c.JupyterHub.concurrent_spawn_limit = 0
c.JupyterHub.active_server_limit = 0
"""


def write_cluster(path: Path, students: int) -> Path:
    """The dev cluster's default nodes with its CPU node repeated, one per 100 students (room
    for the platform's own pods): a node takes 110 pods (the kubelet's default), so a class of
    500 needs a pool of CPU nodes, as a real cluster scales one up before class."""
    cluster = yaml.safe_load(DEFAULT_CONFIG.read_text())
    cpu_node = cluster["nodes"][0]
    extra = [{**cpu_node, "name": f"cpu-node-{i}"} for i in range(2, students // 100 + 2)]
    cluster["nodes"] = [cpu_node, *extra, *cluster["nodes"][1:]]
    path.write_text(yaml.safe_dump(cluster))
    return path


class StudentFailed(Exception):
    pass


@dataclass
class Outcome:
    student: str
    seconds: float | None  # arrival -> execute_reply; None if failed
    reason: str = ""


def form_xsrf(html: str, where: str) -> str:
    found = XSRF_FIELD.search(html)
    if not found:
        raise StudentFailed(f"no _xsrf field in {where}")
    return found.group(1)


async def sign_in(session: aiohttp.ClientSession, public: str, name: str, password: str) -> str:
    """Sign in through the login form; the page the hub lands on afterwards."""
    async with session.get(f"{public}/hub/login") as page:
        xsrf = form_xsrf(await page.text(), "the login page")
    async with session.post(
        f"{public}/hub/login?next=/hub/spawn",
        data={"username": name, "password": password, "_xsrf": xsrf},
    ) as landed:
        if landed.status != 200 or "/hub/login" in str(landed.url):
            raise StudentFailed(f"sign-in: HTTP {landed.status} at {landed.url.path}")
        return await landed.text()


async def start_server(session: aiohttp.ClientSession, public: str, name: str, page: str) -> None:
    """Post the spawn form (when the hub shows one), then follow progress until ready."""
    if 'name="profile"' in page:
        action = SPAWN_ACTION.search(page)
        if not action:
            raise StudentFailed("the spawn form has no action")
        async with session.post(
            public + html.unescape(action.group(1)), data={"profile": PROFILE}
        ) as pending:
            if pending.status != 200:
                raise StudentFailed(f"spawn form: HTTP {pending.status}")
    xsrf = session.cookie_jar.filter_cookies(aiohttp.client.URL(public)).get("_xsrf")
    headers = {"X-XSRFToken": xsrf.value} if xsrf else {}
    async with session.get(
        f"{public}/hub/api/users/{name}/server/progress", headers=headers
    ) as stream:
        if stream.status != 200:
            raise StudentFailed(f"progress: HTTP {stream.status}")
        async for raw in stream.content:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:])
            if event.get("ready"):
                return
            if event.get("failed"):
                raise StudentFailed(f"spawn failed: {event.get('message')}")
    raise StudentFailed("the progress stream ended before the server was ready")


async def run_cell(session: aiohttp.ClientSession, public: str, name: str) -> None:
    async with session.post(f"{public}/user/{name}/api/kernels", json={"name": "python3"}) as made:
        if made.status != 201:
            raise StudentFailed(f"new kernel: HTTP {made.status}")
        kernel = (await made.json())["id"]
    ws_url = public.replace("http", "ws", 1) + f"/user/{name}/api/kernels/{kernel}/channels"
    msg_id = uuid.uuid4().hex
    request = {
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": msg_id},
        "parent_header": {},
        "metadata": {},
        "content": {"code": CELL, "silent": False},
        "channel": "shell",
    }
    async with session.ws_connect(ws_url) as channels:
        await channels.send_str(json.dumps(request))
        async for message in channels:
            reply = json.loads(message.data)
            if reply["header"]["msg_type"] == "execute_reply":
                if reply["parent_header"].get("msg_id") != msg_id:
                    raise StudentFailed("the kernel answered another request")
                if reply["content"]["status"] != "ok":
                    raise StudentFailed(f"the cell failed: {reply['content']}")
                return
    raise StudentFailed("the kernel's websocket closed before the reply")


async def student(public: str, name: str, password: str, delay: float, give_up: float) -> Outcome:
    await asyncio.sleep(delay)
    arrived = time.perf_counter()
    jar = aiohttp.CookieJar(unsafe=True)  # the hub is on an IP address
    timeout = aiohttp.ClientTimeout(total=give_up)
    try:
        async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as session:
            async with asyncio.timeout(give_up):
                page = await sign_in(session, public, name, password)
                await start_server(session, public, name, page)
                await run_cell(session, public, name)
    except StudentFailed as failure:
        return Outcome(name, None, str(failure))
    except TimeoutError:
        return Outcome(name, None, f"no running cell after {give_up:.0f} s")
    except aiohttp.ClientError as error:
        return Outcome(name, None, f"{type(error).__name__}: {error}")
    return Outcome(name, time.perf_counter() - arrived)


async def loop_lag(hub: str, token: str) -> tuple[float, float, dict[float, float]]:
    """The hub's event-loop histogram: (sum, count, cumulative buckets)."""
    total = count = 0.0
    buckets: dict[float, float] = {}
    headers = {"Authorization": f"token {token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.get(f"{hub}/hub/metrics") as response,
    ):
        text = await response.text()
    for line in text.splitlines():
        if not line.startswith("jupyterhub_event_loop_interval_seconds"):
            continue
        metric, value = line.rsplit(" ", 1)
        if metric.endswith("_sum"):
            total = float(value)
        elif metric.endswith("_count"):
            count = float(value)
        elif "_bucket" in metric:
            bound = re.search(r'le="([^"]+)"', metric).group(1)
            buckets[float(bound)] = float(value)
    return total, count, buckets


def lag_figures(before, after) -> dict:
    """Mean and p99 (the upper bound of its bucket) of the hub's loop intervals in between."""
    total, count = after[0] - before[0], after[1] - before[1]
    if count <= 0:
        return {"mean_ms": None, "p99_ms": None, "samples": 0}
    p99 = None
    for bound in sorted(after[2]):
        if after[2][bound] - before[2].get(bound, 0.0) >= 0.99 * count:
            p99 = bound
            break
    return {
        "mean_ms": round(1000 * total / count, 1),
        "p99_ms": None if p99 is None or p99 == float("inf") else round(1000 * p99, 1),
        "samples": int(count),
    }


async def storm(platform: Platform, count: int, window: float, give_up: float) -> dict:
    passwords = platform.passwords()
    names = [f"bench-{i:03d}" for i in range(1, count + 1)]
    before = await loop_lag(platform.hub_url, platform.admin_token)
    started = time.perf_counter()
    outcomes = await asyncio.gather(
        *(
            student(platform.public_url, name, passwords[name], window * i / count, give_up)
            for i, name in enumerate(names)
        )
    )
    wall = time.perf_counter() - started
    after = await loop_lag(platform.hub_url, platform.admin_token)
    times = [o.seconds for o in outcomes if o.seconds is not None]
    # "jupyter-bench-221" -> "jupyter-bench-N": the same failure for many students counts once.
    failures = Counter(STUDENT_NUMBER.sub("-N", o.reason) for o in outcomes if o.seconds is None)
    return {
        "students": count,
        "ok": len(times),
        "failures": sum(failures.values()),
        "failure_reasons": dict(failures.most_common(5)),
        "p50_s": round(percentile(times, 0.50), 2) if times else None,
        "p95_s": round(percentile(times, 0.95), 2) if times else None,
        "max_s": round(max(times), 2) if times else None,
        "wall_s": round(wall, 1),
        "hub_loop": lag_figures(before, after),
    }


def run_variant(work: Path, variant: str, count: int, window: float, give_up: float) -> dict:
    root = work / f"{variant}-{count}"
    config = write_hub_config(
        root.with_suffix(".py"),
        plain=variant == "kubespawner",
        light=True,
        server=KERNEL_SERVER,
        extra=LIMITS,
    )
    platform = Platform(
        PlatformConfig(
            state_dir=root / "state",
            courses_dir=write_catalog(root, count),
            cluster_config=write_cluster(root.with_suffix(".cluster.yaml"), count),
            port=0,
            hub_config=config,
        )
    )
    with platform:
        return asyncio.run(storm(platform, count, window, give_up))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", default="100,300,500", help="comma-separated class sizes")
    parser.add_argument("--window", type=float, default=60.0, help="arrivals over this many s")
    parser.add_argument("--give-up", type=float, default=300.0, help="a student's time limit")
    parser.add_argument(
        "--variants", default="coursehub,kubespawner", help="coursehub, kubespawner or both"
    )
    args = parser.parse_args()
    counts = sorted({int(n) for n in args.students.split(",")})
    variants = [v.strip() for v in args.variants.split(",")]
    rounds = []
    with tempfile.TemporaryDirectory(prefix="coursehub-storm-") as tmp:
        for count in counts:
            figures = {}
            for variant in variants:
                print(f"  {variant}: {count} students over {args.window:.0f} s…", flush=True)
                figures[variant] = run_variant(Path(tmp), variant, count, args.window, args.give_up)
            rounds.append({"students": count, **figures})
    print(
        f"\n{'students':>8}  {'variant':<12} {'ok':>5} {'failed':>6} {'p50 s':>7} {'p95 s':>7} "
        f"{'max s':>7} {'hub loop interval mean / p99 ms (50: no lag)':>44}"
    )
    for round_ in rounds:
        for variant in variants:
            f = round_[variant]
            lag = f["hub_loop"]
            print(
                f"{round_['students']:>8}  {variant:<12} {f['ok']:>5} {f['failures']:>6} "
                f"{f['p50_s'] or 0:>7.2f} {f['p95_s'] or 0:>7.2f} {f['max_s'] or 0:>7.2f} "
                f"{lag['mean_ms'] or 0:>35.1f} / {lag['p99_ms'] or 0:<6}"
            )
            for reason, n in f["failure_reasons"].items():
                print(f"{'':>10}{n} x {reason}")
        if "coursehub" in round_ and "kubespawner" in round_:
            ours, base = round_["coursehub"]["p95_s"], round_["kubespawner"]["p95_s"]
            if ours and base:
                round_["p95_ratio"] = round(ours / base, 2)
                print(f"{'':>10}p95 ratio coursehub / kubespawner: {round_['p95_ratio']}")
    print(json.dumps({"goal": {"students": 500, "failures": 0, "p95_s": 30}, "rounds": rounds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
