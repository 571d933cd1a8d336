"""A platform for GPU quota tests: courses with GPU policies, a movable service clock and
an enforcer that runs every second.

- ``gpu_platform(root, name, artifacts_dir, *courses, hub_port=0, extra_hub_env=None)``: a
  started ``Platform`` (``platforms.running_platform``); its logs go to
  ``test-artifacts/platform-<name>``.
- ``move_clock(platform, seconds)``: move the service's clock forward.
- ``MIG``: one MIG 1g.10gb slice, as an environment's ``gpu``.
- ``sessions(service, platform, course)``: the course's GPU sessions, as an admin sees them.
- ``wait_for(check, timeout=60, what=...)``: await ``check()`` until it returns something
  true (returned), polling every 0.5 s; fails naming ``what`` after ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from factories import MIG_1G
from platforms import running_platform
from service_calls import ServiceCalls

from coursehub.dev import Platform

CLOCK_VARIABLE = "COURSEHUB_DEV_CLOCK_OFFSET_FILE"


@contextlib.contextmanager
def gpu_platform(
    root: Path,
    name: str,
    artifacts_dir: Path,
    *courses: dict,
    hub_port: int = 0,
    extra_hub_env: dict[str, str] | None = None,
) -> Iterator[Platform]:
    clock = root / "clock-offset"
    clock.write_text("0")
    with running_platform(
        root,
        artifacts_dir,
        f"platform-{name}",
        *courses,
        hub_port=hub_port,
        # The hub starts each course's formgrader service one after the other before it
        # routes the coursehub service; six courses pass 90 s on a busy machine.
        start_timeout=240,
        extra_hub_env={
            CLOCK_VARIABLE: str(clock),
            "COURSEHUB_GPU_ENFORCE_SECONDS": "1",
            **(extra_hub_env or {}),
        },
    ) as running:
        yield running


def move_clock(platform: Platform, seconds: float) -> None:
    """Atomically (a new file renamed over the old one), so the service never reads a
    half-written offset."""
    path = Path(platform.config.extra_hub_env[CLOCK_VARIABLE])
    partial = path.with_suffix(".partial")
    partial.write_text(str(float(path.read_text()) + seconds))
    partial.replace(path)


MIG = {"count": 1, "resource": MIG_1G}


async def sessions(service: ServiceCalls, platform: Platform, course: str) -> list[dict]:
    status, body = await service.call("GET", f"gpu/sessions?course={course}", platform.admin_token)
    assert status == 200, body
    return body["sessions"]


async def wait_for(check, timeout: float = 60, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.5)
