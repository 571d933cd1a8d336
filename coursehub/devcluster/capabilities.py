"""Linux capabilities of a container's processes, as a container runtime derives them from
``securityContext``.

Pure part, :func:`container_capabilities`: the runtime's default set (containerd's and
Docker's), minus ``capabilities.drop``, plus ``capabilities.add`` (names with or without the
``CAP_`` prefix, any case; ``ALL`` means every capability: ``drop: [ALL]`` keeps only what is
added, ``add: [ALL]`` keeps all but what is dropped), or everything for ``privileged: true``;
always within what the kubelet itself has, since a process cannot gain a capability its
parent's bounding set lacks.

Thin part, run by the kubelet: :func:`kubelet_sets` reads the kubelet's own sets, and
:func:`keep_only` runs in the forked child before ``exec``: it drops every other capability
from the bounding set and clears the inheritable and ambient sets. A root process then gets
exactly the bounding set as its permitted and effective sets when it ``exec``s.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CAPABILITIES",
    "RUNTIME_DEFAULT",
    "CapabilityError",
    "ContainerCapabilities",
    "KubeletSets",
    "bits",
    "container_capabilities",
    "keep_only",
    "kubelet_sets",
    "names",
    "parse_status",
    "to_drop",
]

# linux/capability.h
CAPABILITIES: dict[str, int] = {
    name: number
    for number, name in enumerate(
        (
            "CHOWN",
            "DAC_OVERRIDE",
            "DAC_READ_SEARCH",
            "FOWNER",
            "FSETID",
            "KILL",
            "SETGID",
            "SETUID",
            "SETPCAP",
            "LINUX_IMMUTABLE",
            "NET_BIND_SERVICE",
            "NET_BROADCAST",
            "NET_ADMIN",
            "NET_RAW",
            "IPC_LOCK",
            "IPC_OWNER",
            "SYS_MODULE",
            "SYS_RAWIO",
            "SYS_CHROOT",
            "SYS_PTRACE",
            "SYS_PACCT",
            "SYS_ADMIN",
            "SYS_BOOT",
            "SYS_NICE",
            "SYS_RESOURCE",
            "SYS_TIME",
            "SYS_TTY_CONFIG",
            "MKNOD",
            "LEASE",
            "AUDIT_WRITE",
            "AUDIT_CONTROL",
            "SETFCAP",
            "MAC_OVERRIDE",
            "MAC_ADMIN",
            "SYSLOG",
            "WAKE_ALARM",
            "BLOCK_SUSPEND",
            "AUDIT_READ",
            "PERFMON",
            "BPF",
            "CHECKPOINT_RESTORE",
        )
    )
}
# "ALL": every capability, including any this table does not name yet.
_EVERY = (1 << 64) - 1

# What containerd and Docker give a container that asks for nothing.
RUNTIME_DEFAULT = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


class CapabilityError(ValueError):
    """A ``securityContext.capabilities`` a container runtime would refuse; the message names
    the field (``spec.containers[0].securityContext.capabilities.add[1]``)."""


def bits(capability_names: Iterable[str]) -> int:
    """The bit set of canonical names (``"SETUID"``)."""
    return sum(1 << CAPABILITIES[name] for name in set(capability_names))


def names(bit_set: int) -> list[str]:
    """Canonical names of the capabilities in a bit set, in kernel order."""
    return [name for name, number in CAPABILITIES.items() if bit_set >> number & 1]


@dataclass(frozen=True)
class ContainerCapabilities:
    """``bounding``: the set the container's processes get (bounding = permitted = effective
    for root). ``unavailable``: capabilities it adds that the kubelet itself lacks, so it runs
    without them."""

    bounding: int
    unavailable: tuple[str, ...] = ()


def container_capabilities(
    security_context: Any, available: int, field: str = "securityContext"
) -> ContainerCapabilities:
    """The capabilities of a container with this ``securityContext``, within ``available``
    (the kubelet's bounding set). ``field`` prefixes error messages."""
    context = _mapping(security_context, field)
    if context.get("privileged") is True:
        return ContainerCapabilities(available)
    capabilities = _mapping(context.get("capabilities"), f"{field}.capabilities")
    drop = _canonical(capabilities.get("drop"), f"{field}.capabilities.drop")
    add = _canonical(capabilities.get("add"), f"{field}.capabilities.add")
    # Docker's rules; containerd differs only where a name (or ALL) is both added and dropped.
    if "ALL" in add:  # everything but what is dropped by name
        wanted = _EVERY & ~bits(name for name in drop if name != "ALL")
    elif "ALL" in drop:  # only what is added
        wanted = bits(add)
    else:  # the default set, minus drops, plus adds
        wanted = (bits(RUNTIME_DEFAULT) & ~bits(drop)) | bits(add)
    unavailable = names(bits(name for name in add if name != "ALL") & ~available)
    return ContainerCapabilities(wanted & available, tuple(unavailable))


def _mapping(value: Any, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CapabilityError(f"{field}: Invalid value: must be an object")
    return value


def _canonical(values: Any, field: str) -> list[str]:
    """``CAP_SYS_ADMIN``, ``sys_admin`` and ``SYS_ADMIN`` alike, as runtimes accept them."""
    if values is None:
        return []
    if not isinstance(values, list):
        raise CapabilityError(f"{field}: Invalid value: must be a list of capability names")
    canonical = []
    for index, value in enumerate(values):
        name = str(value).upper()
        name = name.removeprefix("CAP_")
        if name != "ALL" and name not in CAPABILITIES:
            raise CapabilityError(
                f'{field}[{index}]: Unsupported value: "{value}": not a Linux capability'
            )
        canonical.append(name)
    return canonical


# ---- the process side ---------------------------------------------------------------------


@dataclass(frozen=True)
class KubeletSets:
    """The kubelet process's own capability sets (bit sets)."""

    bounding: int
    effective: int

    def has(self, *capability_names: str) -> bool:
        """Whether every named capability is in the effective set."""
        wanted = bits(capability_names)
        return self.effective & wanted == wanted


def parse_status(status_text: str) -> KubeletSets:
    """The sets in a ``/proc/PID/status`` text."""
    sets = {}
    for line in status_text.splitlines():
        key, _, value = line.partition(":")
        if key in ("CapBnd", "CapEff"):
            sets[key] = int(value.strip(), 16)
    return KubeletSets(bounding=sets.get("CapBnd", 0), effective=sets.get("CapEff", 0))


def kubelet_sets() -> KubeletSets:
    """This process's bounding and effective sets."""
    return parse_status(Path("/proc/self/status").read_text())


PR_CAPBSET_DROP = 24  # linux/prctl.h
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


_libc = ctypes.CDLL(None, use_errno=True)
# All five arguments, always: PR_CAP_AMBIENT refuses a nonzero (or stray) arg5.
_libc.prctl.argtypes = [ctypes.c_int, *[ctypes.c_ulong] * 4]
_libc.prctl.restype = ctypes.c_int


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def keep_only(drop_from_bounding: tuple[int, ...]) -> None:
    """In the child before ``exec``: drop these capability numbers from the bounding set and
    clear the ambient and inheritable sets (needs CAP_SETPCAP, which a root kubelet has)."""
    for number in drop_from_bounding:
        _check(_libc.prctl(PR_CAPBSET_DROP, number, 0, 0, 0), "PR_CAPBSET_DROP")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "PR_CAP_AMBIENT")
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    for word in data:
        word.inheritable = 0
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def to_drop(current_bounding: int, target: int) -> tuple[int, ...]:
    """Capability numbers in ``current_bounding`` but not in ``target``."""
    surplus = current_bounding & ~target
    return tuple(number for number in range(surplus.bit_length()) if surplus >> number & 1)
