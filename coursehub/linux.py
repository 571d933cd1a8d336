"""Thin wrappers over the Linux calls that confinement needs and Python's ``os`` lacks:
``unshare``, ``mount``, ``prctl`` and capability sets, through libc (ctypes).

Shared by the grading sandbox (``coursehub.grading.sandbox``) and the dev cluster, which
emulates what a container runtime does (``coursehub.devcluster.imagefs``). Each call raises
``OSError`` naming what failed, so a caller can refuse to go on rather than run unconfined.
"""

from __future__ import annotations

import ctypes
import os
import site
import sys
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 0x1000, 0x4000, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4
CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN = 6, 7, 21

libc = ctypes.CDLL(None, use_errno=True)


def check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what} failed: {os.strerror(errno)}")


def unshare(flags: int) -> None:
    check(libc.unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None):
    def encoded(value: str | None) -> bytes | None:
        return None if value is None else os.fsencode(value)

    check(
        libc.mount(encoded(source), encoded(target), encoded(fstype), flags, encoded(data)),
        f"mount {target}",
    )


def make_mounts_private() -> None:
    """After ``unshare(CLONE_NEWNS)``: mounts made here stay in this namespace."""
    mount(None, "/", None, MS_REC | MS_PRIVATE, None)


def prctl(option: int, value: int, what: str) -> None:
    check(libc.prctl(option, value, 0, 0, 0), what)


def effective_capabilities() -> int:
    """This process's effective capability set as a bit mask (from /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def has_capability(number: int) -> bool:
    return bool(effective_capabilities() >> number & 1)


def python_paths() -> list[str]:
    """Where the interpreter, its libraries and coursehub itself live: an unprivileged user
    must read them. Not every ``sys.path`` entry: the current folder (``python -m`` puts it
    first) may be a private one that must stay private."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)}
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where coursehub is
    paths = {*prefixes, package, *site.getsitepackages()}
    paths.update(
        entry
        for entry in sys.path
        if entry and any(os.path.realpath(entry).startswith(os.path.realpath(p)) for p in prefixes)
    )
    return sorted(path for path in paths if os.path.isdir(path))


def make_reachable(paths: list[str], staging_parent: Path) -> None:
    """Make ``paths`` reachable for an unprivileged user inside this mount namespace: a
    folder on their way that others may not enter (``/root`` when Python is installed under
    it) is covered by a tmpfs that shows only the entries leading to them. ``staging_parent``
    is a folder of this process's where the covered folder is bound for a moment."""
    blocked: dict[str, set[str]] = {}
    staging_real = os.path.realpath(staging_parent)
    for path in paths:
        parts = Path(os.path.realpath(path)).parts
        for depth in range(1, len(parts)):
            ancestor = os.path.join(*parts[:depth])
            if not os.stat(ancestor).st_mode & 0o001:
                if not (staging_real + os.sep).startswith(ancestor + os.sep):
                    blocked.setdefault(ancestor, set()).add(parts[depth])
                break  # past a folder it cannot cover, the path stays out of reach
    for number, (ancestor, entries) in enumerate(sorted(blocked.items())):
        staging = staging_parent / f".reach-{number}"
        staging.mkdir()
        mount(ancestor, str(staging), None, MS_BIND | MS_REC, None)
        mount("tmpfs", ancestor, "tmpfs", 0, "mode=711")
        for entry in entries:
            target = os.path.join(ancestor, entry)
            os.mkdir(target)
            mount(str(staging / entry), target, None, MS_BIND | MS_REC, None)
        check(libc.umount2(os.fsencode(staging), MNT_DETACH), f"umount {staging}")
        staging.rmdir()
