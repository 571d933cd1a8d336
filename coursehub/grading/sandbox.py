"""Confinement of one submission's processes inside a grading pod (Linux only).

Two modes, chosen by what the pod may do (``Sandbox.for_this_pod``); anything less, and the
runner refuses to run student code at all (``SandboxUnavailable``):

- ``users`` (a production pod: root with CHOWN, DAC_OVERRIDE, FOWNER, KILL, SETGID, SETUID,
  no CAP_SYS_ADMIN, seccomp RuntimeDefault): a user of its own per submission, no groups;
  its folder ``0700``; rlimits; the pod's NetworkPolicy cuts the network (the runner checks
  that it does before grading); files it left in the pod's shared writable folders
  (``/tmp``, ``/dev/shm``, ``/var/tmp``, ``/dev/mqueue``) and its SysV IPC objects are
  removed after it, so nothing reaches the next submission.
- ``namespaces`` (the dev cluster, where pods share the developer's machine: CAP_SYS_ADMIN
  as well): all of the above, plus mount, network and IPC namespaces of its own: no
  network at all, the ``masked_paths`` (the machine's state and course folders) under empty
  read-only tmpfs, a private ``/dev/shm`` and a ``/proc`` that shows only its own processes.

Either way: ``PR_SET_NO_NEW_PRIVS``, death with the runner, first in line for the OOM
killer, a cleared environment and its own folder as ``HOME``; its disk use (its folder and
what it owns in the shared folders) is watched by the runner (``disk_used``).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from coursehub.linux import (
    CAP_SETGID,
    CAP_SETUID,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    has_capability,
    libc,
    make_mounts_private,
    make_reachable,
    mount,
    prctl,
    python_paths,
    unshare,
)

NAMESPACES, USERS = "namespaces", "users"
# Folders every user of a pod may write to: checked for a submission's files, emptied of
# them after it. In the namespaces mode /dev/shm is private (a tmpfs of its own).
SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue")
SYSV_IPC = {"shm": "shmctl", "msg": "msgctl", "sem": "semctl"}
IPC_RMID = 0


class SandboxUnavailable(RuntimeError):
    """This pod cannot confine student code; the message says why and what to change."""


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
    disk: int = 1024**3  # its folder, /tmp and /dev/shm together
    max_entries: int = 20_000  # files and folders: a million empty files fill no bytes

    @classmethod
    def from_json(cls, data: dict) -> Limits:
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass(frozen=True)
class Sandbox:
    limits: Limits
    mode: str = USERS
    masked_paths: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def for_this_pod(
        cls, limits: Limits, masked_paths: list[str] = (), require_namespaces: bool = False
    ) -> Sandbox:
        """The strongest mode this process can give; SandboxUnavailable if it cannot give
        each submission a user of its own (or namespaces, when ``require_namespaces``)."""
        if not can_switch_user():
            raise SandboxUnavailable(
                f"refusing to run student code: this grading pod runs as uid {os.geteuid()} "
                "without CAP_SETUID/CAP_SETGID, so it cannot give each submission a user of its "
                "own. Grading pods run as root with the capabilities coursehub asks for "
                "(CHOWN, DAC_OVERRIDE, FOWNER, KILL, SETGID, SETUID); see docs/grading.md."
            )
        namespaces = can_create_namespaces()
        if require_namespaces and not namespaces:
            raise SandboxUnavailable(
                "refusing to run student code: this pod shares a machine whose folders it must "
                "hide from submissions, and it may not create mount namespaces (no "
                "CAP_SYS_ADMIN); coursehub dev gives its grading pods SYS_ADMIN for that."
            )
        mode = NAMESPACES if namespaces else USERS
        return cls(limits, mode, tuple(masked_paths))

    def to_json(self) -> dict:
        return {"limits": asdict(self.limits), "mode": self.mode, "masked": list(self.masked_paths)}

    @classmethod
    def from_json(cls, data: dict) -> Sandbox:
        return cls(Limits.from_json(data["limits"]), data["mode"], tuple(data["masked"]))

    def describe(self) -> str:
        if self.mode == NAMESPACES:
            return "rlimits, a user per submission, no network, masked paths"
        return "rlimits, a user per submission, network cut by the pod's NetworkPolicy"

    @property
    def shared_writable(self) -> tuple[str, ...]:
        """Shared folders the runner sees as the submission does (not private to it)."""
        private = ("/dev/shm", "/dev/mqueue") if self.mode == NAMESPACES else ()
        return tuple(path for path in SHARED_WRITABLE if path not in private)

    # ----- in the runner ---------------------------------------------------------------

    def prepare_folder(self, folder: Path, uid: int) -> None:
        """The submission's working folder, readable by its user alone."""
        folder.mkdir(parents=True, exist_ok=True)
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, uid, uid, follow_symlinks=False)
        folder.chmod(0o700)

    def kill_all(self, uid: int, pid: int = 0) -> None:
        """Stop the submission's processes, including any it detached (and the process
        group of ``pid``, its first process, which may not have switched user yet)."""
        _as_user(uid, _kill_every_process_of_mine)
        if pid > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

    def clean_up(self, uid: int) -> None:
        """After the submission's processes are gone: nothing of it stays in the pod's
        shared folders or its IPC (the next submission must find none of it)."""
        for folder in self.shared_writable:
            for entry in _owned_entries(folder, uid):
                _remove(entry)
        if self.mode == USERS:  # with namespaces, its IPC namespace went with it
            # As the user: removing another's IPC objects needs CAP_SYS_ADMIN.
            _as_user(uid, lambda: _remove_ipc_objects(uid))

    def disk_used(self, uid: int, folder: Path) -> tuple[int, int]:
        """Bytes allocated and entries the submission holds: its folder, and what it owns in
        the shared folders. Stops counting past the limits (the caller only compares)."""
        used, entries = 0, 0
        roots = [str(folder), *_owned_entries_of(self.shared_writable, uid)]
        for root in roots:
            for size in _allocated_sizes(root):
                used += size
                entries += 1
                if used > self.limits.disk or entries > self.limits.max_entries:
                    return used, entries
        return used, entries

    # ----- in the submission's process -------------------------------------------------

    def enter(self, uid: int, folder: Path, environ: dict[str, str]) -> None:
        """Confine the calling process (a freshly forked child). Raises OSError on failure:
        the child must then exit rather than run student code unconfined."""
        os.setsid()
        with open("/proc/self/oom_score_adj", "w") as adjust:  # killed before the runner
            adjust.write("1000")
        if self.mode == NAMESPACES:
            self._enter_namespaces(folder)
        vsize = _address_space_in_use()
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        # Per user: counts only this submission's processes (a fork bomb stops here).
        _set_limit(resource.RLIMIT_NPROC, self.limits.max_processes)
        # The template's own mappings (Python, numpy) are shared and do not count.
        _set_limit(resource.RLIMIT_AS, vsize + self.limits.memory)
        _set_limit(resource.RLIMIT_CPU, int(self.limits.notebook_timeout) + 5)
        _set_limit(resource.RLIMIT_FSIZE, min(self.limits.max_file, self.limits.disk))
        _set_limit(resource.RLIMIT_NOFILE, 256)
        _set_limit(resource.RLIMIT_CORE, 0)
        prctl(PR_SET_NO_NEW_PRIVS, 1, "no_new_privs")
        # After setuid: Linux clears the parent-death signal when credentials change.
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, "pdeathsig")
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environ)
        os.umask(0o077)

    def _enter_namespaces(self, folder: Path) -> None:
        unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)
        make_mounts_private()
        make_reachable(python_paths(), folder)
        hidden = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
        for path in self.masked_paths:
            if os.path.isdir(path):
                mount("tmpfs", path, "tmpfs", hidden, "size=4k,mode=000")
        if os.path.isdir("/dev/shm"):
            mount(
                "tmpfs",
                "/dev/shm",
                "tmpfs",
                MS_NOSUID | MS_NODEV,
                f"size={self.limits.disk},mode=1777",
            )
        # Its own processes only: the machine's command lines are not its business.
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")


def can_switch_user() -> bool:
    return os.geteuid() == 0 and has_capability(CAP_SETUID) and has_capability(CAP_SETGID)


def can_create_namespaces() -> bool:
    """Tried in a short-lived child: capabilities alone do not tell (seccomp may refuse)."""
    pid = os.fork()
    if pid == 0:
        try:
            unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)
            make_mounts_private()
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def network_reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether this pod can open a connection to ``host:port`` (the runner's check that the
    NetworkPolicy is in force, with the Kubernetes API every pod is told about)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# ----- helpers -------------------------------------------------------------------------


def _as_user(uid: int, action) -> None:
    """Run ``action`` in a forked process that switched to ``uid`` (and wait for it)."""
    helper = os.fork()
    if helper == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            action()
        finally:
            os._exit(0)
    os.waitpid(helper, 0)


def _kill_every_process_of_mine() -> None:
    """As the submission's user, kill(-1) reaches exactly its processes; again until none
    is left, as a fork bomb forks while the first sweep runs."""
    with contextlib.suppress(ProcessLookupError):
        for _sweep in range(1000):
            os.kill(-1, signal.SIGKILL)


def _owned_entries(folder: str, uid: int) -> list[str]:
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    owned = []
    for name in names:
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if os.lstat(path).st_uid == uid:
                owned.append(path)
    return owned


def _owned_entries_of(folders: tuple[str, ...], uid: int) -> list[str]:
    return [entry for folder in folders for entry in _owned_entries(folder, uid)]


def _allocated_sizes(root: str):
    """Bytes allocated by each file and folder under ``root`` (itself included), without
    following symbolic links."""
    try:
        info = os.lstat(root)
    except OSError:
        return
    yield info.st_blocks * 512
    if not stat.S_ISDIR(info.st_mode):
        return
    for directory, subdirs, files in os.walk(root, onerror=lambda error: None):
        for name in subdirs + files:
            with contextlib.suppress(OSError):
                yield os.lstat(os.path.join(directory, name)).st_blocks * 512


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path, ignore_errors=True)  # does not follow symbolic links
        else:
            os.unlink(path)


def _remove_ipc_objects(uid: int) -> None:
    """Remove the System V shared memory segments, message queues and semaphores that
    ``uid`` owns or created (they outlive processes)."""
    for kind, call in SYSV_IPC.items():
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        except OSError:
            continue
        if not lines:
            continue
        header = lines[0].split()
        for line in lines[1:]:
            row = dict(zip(header, line.split(), strict=False))
            if uid in (int(row.get("uid", -1)), int(row.get("cuid", -1))):
                identifier = int(row.get("shmid") or row.get("msqid") or row.get("semid"))
                if kind == "sem":
                    getattr(libc, call)(identifier, 0, IPC_RMID)
                else:
                    getattr(libc, call)(identifier, IPC_RMID, None)


def _set_limit(kind: int, value: int) -> None:
    _soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def _address_space_in_use() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")
