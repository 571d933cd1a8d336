"""Confinement of one submission's process inside a grading pod (Linux only).

What a grading process gets, in the order ``enter`` applies it:

- its own mount and network namespaces when the runner may create them (root in the dev
  cluster): no network at all, and the ``masked_paths`` (the dev machine's state and course
  folders) hidden under empty read-only tmpfs, as OCI runtimes mask paths;
- a user of its own (``uid``, no supplementary groups) when the runner is root, so it can
  read neither the runner's inputs nor another submission's folder, and every process it
  leaves behind can be killed by uid;
- rlimits on address space, processes, CPU time, file size and open files; no core dumps;
- no way back to privileges (``PR_SET_NO_NEW_PRIVS``), death with the runner;
- a cleared environment and its own working folder as ``HOME``.

In production the pod adds what the dev cluster cannot: a NetworkPolicy with no egress, a
filesystem that holds nothing but its inputs, and no service account token.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Limits:
    """Per submission. Times in seconds, sizes in bytes."""

    cell_timeout: float = 60
    notebook_timeout: float = 600
    memory: int = 2 * 1024**3
    max_output: int = 1024**2
    max_processes: int = 64
    max_file: int = 100 * 1024**2
    max_restarts: int = 3

    @classmethod
    def from_json(cls, data: dict) -> Limits:
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass
class Sandbox:
    limits: Limits
    masked_paths: list[str] = field(default_factory=list)
    switch_user: bool = field(default_factory=lambda: os.geteuid() == 0)
    isolate_namespaces: bool = field(default_factory=lambda: os.geteuid() == 0)

    def describe(self) -> str:
        parts = ["rlimits"]
        if self.switch_user:
            parts.append("a user per submission")
        if self.isolate_namespaces:
            parts.append("no network, masked paths")
        return ", ".join(parts)

    def prepare_folder(self, folder: Path, uid: int) -> None:
        """The submission's working folder, readable by its user alone (runs in the runner)."""
        folder.mkdir(parents=True, exist_ok=True)
        if self.switch_user:
            for path in [folder, *folder.rglob("*")]:
                os.chown(path, uid, uid, follow_symlinks=False)
        folder.chmod(0o700)

    def enter(self, uid: int, folder: Path, environ: dict[str, str]) -> None:
        """Confine the calling process (a freshly forked child). Raises OSError on failure:
        the child must then exit rather than run student code unconfined."""
        os.setsid()
        if self.isolate_namespaces:
            _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
            _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount /")
            _reach(_python_paths(), folder)
            for path in self.masked_paths:
                if os.path.isdir(path):
                    flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
                    _check(
                        _libc.mount(b"tmpfs", path.encode(), b"tmpfs", flags, b"size=4k,mode=000"),
                        f"mask {path}",
                    )
        vsize = _address_space_in_use()
        if self.switch_user:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            # Per user: counts only this submission's processes (a fork bomb stops here).
            _set_limit(resource.RLIMIT_NPROC, self.limits.max_processes)
        # The template's own mappings (Python, numpy) are shared and do not count.
        _set_limit(resource.RLIMIT_AS, vsize + self.limits.memory)
        _set_limit(resource.RLIMIT_CPU, int(self.limits.notebook_timeout) + 5)
        _set_limit(resource.RLIMIT_FSIZE, self.limits.max_file)
        _set_limit(resource.RLIMIT_NOFILE, 256)
        _set_limit(resource.RLIMIT_CORE, 0)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        # After setuid: Linux clears the parent-death signal when credentials change.
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL), "pdeathsig")
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environ)
        os.umask(0o077)

    def kill_all(self, uid: int, pid: int) -> None:
        """Stop the submission's processes, including any it detached (runs in the runner)."""
        if self.switch_user:
            reaper = os.fork()
            if reaper == 0:  # as that user, kill(-1) reaches exactly its processes
                try:
                    os.setgroups([])
                    os.setgid(uid)
                    os.setuid(uid)
                    # Again until none is left: a fork bomb forks while the first sweep runs.
                    for _sweep in range(1000):
                        os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                finally:
                    os._exit(0)
            os.waitpid(reaper, 0)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _python_paths() -> list[str]:
    """Where the interpreter and its libraries live: the submission's user must read them."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    return sorted(paths)


def _reach(paths: list[str], staging_parent: Path) -> None:
    """Make ``paths`` reachable for an unprivileged user inside this mount namespace: a
    folder on their way that others may not enter (``/root`` when Python is installed under
    it) is covered by a tmpfs that shows only the entries leading to them."""
    blocked: dict[str, set[str]] = {}
    for path in paths:
        parts = Path(os.path.realpath(path)).parts
        for depth in range(1, len(parts)):
            ancestor = os.path.join(*parts[:depth])
            if not os.stat(ancestor).st_mode & 0o001:
                blocked.setdefault(ancestor, set()).add(parts[depth])
                break
    for number, (ancestor, entries) in enumerate(sorted(blocked.items())):
        staging = staging_parent / f".reach-{number}"
        staging.mkdir()
        _check(_libc.mount(ancestor.encode(), bytes(staging), None, MS_BIND | MS_REC, None), "bind")
        _check(_libc.mount(b"tmpfs", ancestor.encode(), b"tmpfs", 0, b"mode=711"), "tmpfs")
        for entry in entries:
            target = os.path.join(ancestor, entry)
            os.mkdir(target)
            source = bytes(staging / entry)
            _check(_libc.mount(source, target.encode(), None, MS_BIND | MS_REC, None), "bind")
        _check(_libc.umount2(bytes(staging), MNT_DETACH), "umount")
        staging.rmdir()


def _set_limit(kind: int, value: int) -> None:
    _soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def _address_space_in_use() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"sandbox: {what} failed: {os.strerror(errno)}")
