"""The one way tests run a whole coursehub platform: dev cluster + proxy + hub, and the
coursehub service and formgraders the hub manages (``coursehub.dev.Platform``).

- ``running_platform(root, artifacts_dir, name, *courses, courses_dir=None, start=True,
  **config)``: a context manager. It writes the course dicts ``courses`` to
  ``<root>/courses`` (or uses the prepared folder ``courses_dir``, writing ``courses`` into
  it too), keeps state in ``<root>/state``, takes free ports (``port=0``) and passes
  ``config`` to ``PlatformConfig`` (``extra_hub_env``, ``cluster_config``, ``hub_port``,
  ``start_timeout``...). It yields the started platform (``start=False``: not yet started,
  the caller calls ``platform.start()``). On exit it stops everything, copies the logs to
  ``<artifacts_dir>/<name>/`` and, when the body did not raise, fails if any process of
  the platform is left (naming each pid and command line; the leftovers are then killed).

  In a module-scoped fixture::

      @pytest.fixture(scope="module")
      def platform(tmp_path_factory, artifacts_dir):
          root = tmp_path_factory.mktemp("my-feature")
          with running_platform(root, artifacts_dir, "platform-my-feature", *hub_courses()) as p:
              yield p

- ``keep_logs(platform, artifacts_dir, name)``: copy the platform's logs to
  ``<artifacts_dir>/<name>/`` (``running_platform`` does it on exit).
- ``leftover_processes(platform)``: ``{pid: command line}`` of the processes still running
  that belong to the platform (its parts' process groups, and any process whose command
  line, environment or working folder names its state folder, as pods' ``HOME`` does).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from factories import write_courses

from coursehub.dev import Platform, PlatformConfig

LEFTOVER_WAIT_SECONDS = 15.0


@contextlib.contextmanager
def running_platform(
    root: Path,
    artifacts_dir: Path,
    name: str,
    *courses: dict,
    courses_dir: Path | None = None,
    start: bool = True,
    **config,
) -> Iterator[Platform]:
    if courses_dir is None:
        courses_dir = write_courses(root / "courses", *courses)
    elif courses:
        write_courses(courses_dir, *courses)
    platform = Platform(
        PlatformConfig(state_dir=root / "state", courses_dir=courses_dir, port=0, **config)
    )
    try:
        if start:
            platform.start()
        yield platform
    finally:
        platform.stop()
        keep_logs(platform, artifacts_dir, name)
    assert_no_processes_left(platform)


def keep_logs(platform: Platform, artifacts_dir: Path, name: str) -> None:
    """Copy the platform's logs to ``<artifacts>/<name>/`` for people to read."""
    target = artifacts_dir / name
    shutil.rmtree(target, ignore_errors=True)
    if platform.logs_dir.exists():
        shutil.copytree(platform.logs_dir, target)


def assert_no_processes_left(platform: Platform, wait: float = LEFTOVER_WAIT_SECONDS) -> None:
    """Wait up to ``wait`` seconds for the platform's processes to exit; fail naming those
    that do not (and kill them, so one failure does not slow the tests after it)."""
    deadline = time.monotonic() + wait
    left = leftover_processes(platform)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = leftover_processes(platform)
    if not left:
        return
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    listing = "\n".join(f"  {pid}: {command}" for pid, command in sorted(left.items()))
    raise AssertionError(
        f"processes of the platform in {platform.state_dir} still ran after stop():\n{listing}"
    )


def leftover_processes(platform: Platform) -> dict[int, str]:
    groups = {part.pid for part in platform.parts.values() if part.pid is not None}
    # The state folder itself, or anything inside it: not a sibling such as "state2".
    marker = re.compile(re.escape(os.fsencode(platform.state_dir)) + rb"(?:/|\x00|$)")
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if state[0] in ("Z", "X"):  # exited, waiting for its parent: not running
                continue
            command = (entry / "cmdline").read_bytes()
            named = os.getpgid(pid) in groups or marker.search(command)
            if not named:
                with contextlib.suppress(PermissionError):
                    named = marker.search((entry / "environ").read_bytes())
            if not named:
                with contextlib.suppress(PermissionError):
                    named = marker.search(os.fsencode(os.readlink(entry / "cwd")) + b"\x00")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # it exited while we looked
        if named:
            found[pid] = command.replace(b"\x00", b" ").decode(errors="replace").strip()
    return found
