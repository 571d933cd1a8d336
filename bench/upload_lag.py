"""How long the coursehub service keeps others waiting while it checks a large upload.

A real platform (dev cluster, proxy, hub, the service it manages, default upload limits:
20 MB per file, 100 MB per submission, 1,000 files). One thread asks the service's cheapest
endpoint (``GET api/health``) every ``--interval-ms`` (10) over one kept-alive connection and
records how long each answer took: that is the lag anyone else sees, sign-in and GPU
admission included (they share the service's event loop). Meanwhile a student uploads,
``--repeat`` times (3) each, archives of about ``--size-mb`` (50) sent to
``POST …/submissions``:

- ``honest``: three files of random bytes (incompressible), accepted;
- ``pax-header``: the security review's bomb, scaled up: a first header claiming 8 GiB of
  extended header, then zeros;
- ``gzip-bomb``: one small valid file, then gzip'd zeros that inflate about 1000:1;
- ``folder-flood``: nothing but folder entries, ~100,000 per MB of upload.

Hostile uploads are built from repeated gzip members, so building them takes no time. For
each phase (``idle``: no upload) prints p50, p99 and max of the lag, the uploads' own times
and statuses, then one JSON line; ``ratio_p99``/``ratio_max`` are the worst hostile phase's
figures over idle's.

    .venv/bin/python bench/upload_lag.py                 # 50 MB uploads
    .venv/bin/python bench/upload_lag.py --size-mb 5     # a quick look
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import statistics
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from coursehub.dev import Platform, PlatformConfig
from coursehub.exchange.archive import pack_files

COURSE = "bench-101"
ASSIGNMENT = "ps1"
STUDENT = "bench-student"
MB = 1024 * 1024
ZEROS_MEMBER = gzip.compress(bytes(16 * MB), 9, mtime=0)  # ~16 KiB of gzip, 16 MiB inflated


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# ----- uploads -------------------------------------------------------------------------------


def tar_header(name: str, kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode = kind, size, 0o644
    return info.tobuf(format=tarfile.GNU_FORMAT)


def repeated_to(member: bytes, size_mb: float) -> list[bytes]:
    return [member] * max(1, round(size_mb * MB / len(member)))


def honest(size_mb: float) -> bytes:
    third = int(size_mb * MB / 3)
    return pack_files({f"data/part{n}.bin": os.urandom(third) for n in range(3)})


def pax_header(size_mb: float) -> bytes:
    first = gzip.compress(tar_header("././@PaxHeader", b"x", 8 * 1024 * MB - 1), mtime=0)
    return first + b"".join(repeated_to(ZEROS_MEMBER, size_mb))


def gzip_bomb(size_mb: float) -> bytes:
    first = gzip.compress(tar_header("ps1.ipynb", b"0", 2) + b"{}" + bytes(510), mtime=0)
    return first + b"".join(repeated_to(ZEROS_MEMBER, size_mb))


def folder_flood(size_mb: float) -> bytes:
    folders = gzip.compress(tar_header("d", b"5", 0) * 32768, 9, mtime=0)  # 16 MiB of them
    return b"".join(repeated_to(folders, size_mb))


KINDS = {
    "honest": honest,
    "pax-header": pax_header,
    "gzip-bomb": gzip_bomb,
    "folder-flood": folder_flood,
}


# ----- measuring -----------------------------------------------------------------------------


class Prober(threading.Thread):
    """``GET <service>/api/health`` every ``interval`` seconds. A probe counts for the phase
    in which it was sent, however late its answer comes (a blocked loop answers late)."""

    def __init__(self, service_url: str, interval: float):
        super().__init__(daemon=True)
        parsed = urlparse(service_url)
        self.host, self.port, self.path = parsed.hostname, parsed.port, f"{parsed.path}/api/health"
        self.interval = interval
        self._phase: list[float] | None = None
        self._probing = threading.Lock()  # held while a probe is in flight
        self._stopping = threading.Event()

    def run(self) -> None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=600)
        while not self._stopping.is_set():
            with self._probing:
                phase = self._phase
                started = time.perf_counter()
                connection.request("GET", self.path)
                response = connection.getresponse()
                response.read()
                lag = time.perf_counter() - started
                assert response.status == 200, response.status
                if phase is not None:
                    phase.append(lag)
            time.sleep(max(0.0, self.interval - lag))

    def phase(self) -> list[float]:
        """Start a phase; its lags are appended to the list returned."""
        self._phase = []
        return self._phase

    def end_phase(self) -> None:
        """End the phase once its last probe has been answered."""
        self._phase = None
        with self._probing:
            pass

    def stop(self) -> None:
        self._stopping.set()
        self.join()


def upload(service_url: str, token: str, data: bytes) -> tuple[int, float, str]:
    parsed = urlparse(service_url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)
    started = time.perf_counter()
    connection.request(
        "POST",
        f"{parsed.path}/api/courses/{COURSE}/assignments/{ASSIGNMENT}/submissions",
        body=data,
        headers={"Authorization": f"token {token}", "Content-Type": "application/gzip"},
    )
    response = connection.getresponse()
    body = response.read()
    took = time.perf_counter() - started
    connection.close()
    message = json.loads(body).get("message", "") if body else ""
    return response.status, took, message


# ----- the platform ------------------------------------------------------------------------


def write_catalog(root: Path) -> Path:
    folder = root / "courses" / COURSE
    folder.mkdir(parents=True)
    (folder / "course.yaml").write_text(
        f"""\
id: {COURSE}
title: Upload lag benchmark
term: bench
staff:
  instructors: [bench-teacher]
students: [{STUDENT}]
environments:
  - slug: cpu
    display_name: "Bench · CPU"
    image: ghcr.io/coursehub/notebook-cpu:2026.11
"""
    )
    return root / "courses"


def hub_token(platform: Platform, user: str) -> str:
    parsed = urlparse(platform.hub_url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    connection.request(
        "POST",
        f"{parsed.path.rstrip('/')}/hub/api/users/{user}/tokens",
        body=json.dumps({"note": "bench"}),
        headers={"Authorization": f"token {platform.admin_token}"},
    )
    response = connection.getresponse()
    body = json.loads(response.read())
    assert response.status == 201, body
    return body["token"]


def release(platform: Platform) -> None:
    parsed = urlparse(platform.service_url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    connection.request(
        "PUT",
        f"{parsed.path}/api/courses/{COURSE}/assignments/{ASSIGNMENT}/release",
        body=pack_files({"ps1.ipynb": b"{}"}),
        headers={"Authorization": f"token {platform.admin_token}"},
    )
    response = connection.getresponse()
    assert response.status in (200, 201), response.read()


def run(args: argparse.Namespace, root: Path) -> dict:
    platform = Platform(
        PlatformConfig(state_dir=root / "state", courses_dir=write_catalog(root), port=0)
    )
    print("starting the platform…", file=sys.stderr)
    platform.start()
    try:
        release(platform)
        token = hub_token(platform, STUDENT)
        prober = Prober(platform.service_url, args.interval_ms / 1000)
        prober.start()
        results = {}
        lags = prober.phase()
        time.sleep(args.idle_seconds)
        prober.end_phase()
        results["idle"] = {"lags": lags, "uploads": []}
        for kind in args.kinds:
            data = KINDS[kind](args.size_mb)
            print(f"{kind}: {len(data) / MB:.1f} MB, {args.repeat} times", file=sys.stderr)
            lags = prober.phase()
            uploads = [upload(platform.service_url, token, data) for _ in range(args.repeat)]
            prober.end_phase()
            results[kind] = {"lags": lags, "uploads": uploads, "upload_mb": len(data) / MB}
        prober.stop()
        return results
    finally:
        platform.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-upload-lag-") as scratch:
        results = run(args, Path(scratch))

    print(f"\nlag of GET api/health every {args.interval_ms:g} ms (milliseconds)")
    print(f"{'phase':<14}{'samples':>8}{'p50':>9}{'p99':>9}{'max':>9}   uploads")
    figures = {}
    for phase, result in results.items():
        lags = [1000 * lag for lag in result["lags"]]
        figures[phase] = {
            "p50_ms": round(statistics.median(lags), 2),
            "p99_ms": round(percentile(lags, 0.99), 2),
            "max_ms": round(max(lags), 2),
        }
        uploads = ", ".join(f"{status} in {took:.2f} s" for status, took, _ in result["uploads"])
        print(
            f"{phase:<14}{len(lags):>8}{figures[phase]['p50_ms']:>9.1f}"
            f"{figures[phase]['p99_ms']:>9.1f}{figures[phase]['max_ms']:>9.1f}   {uploads}"
        )
        for status, _took, message in result["uploads"][:1]:
            if status != 201:
                print(f"{'':<14}  refused: {message}")
    idle = figures["idle"]
    hostile = [phase for phase in figures if phase not in ("idle", "honest")]
    worst = max(hostile, key=lambda phase: figures[phase]["p99_ms"]) if hostile else "idle"
    summary = {
        "size_mb": args.size_mb,
        "repeat": args.repeat,
        **{f"{phase}_{key}": value for phase, row in figures.items() for key, value in row.items()},
        "worst_hostile": worst,
        "ratio_p99": round(figures[worst]["p99_ms"] / idle["p99_ms"], 2),
        "ratio_max": round(figures[worst]["max_ms"] / idle["max_ms"], 2),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
