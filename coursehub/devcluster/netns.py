"""A pod's own network namespace with only loopback up, held like a CRI pod sandbox holds it.

The kubelet creates one per pod that a NetworkPolicy cuts off (:func:`create_isolated`) and
keeps a file descriptor on it for the pod's life; every container of the pod joins it in its
forked child before ``exec`` (:func:`enter`), so the containers share one loopback as in
Kubernetes, and the kubelet's readiness probes connect from inside it (:func:`socket_inside`).
Creating and joining need CAP_SYS_ADMIN; bringing loopback up needs CAP_NET_ADMIN.

Linux keeps the network namespace per thread: :func:`create_isolated` and
:func:`socket_inside` switch namespace in a short-lived thread of their own, so the kubelet's
event loop and worker threads stay on the machine's network. A socket keeps the namespace it
was created in.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["create_isolated", "enter", "socket_inside"]

CLONE_NEWNET = 0x40000000  # linux/sched.h
SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914  # linux/sockios.h
IFF_UP = 0x1
_IFREQ = "16sh22x"  # struct ifreq: the name, then ifr_flags in a 24-byte union

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _in_a_thread_of_its_own(work: Callable[[], T]) -> T:
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=run, name="devcluster-netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _bring_loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        current = fcntl.ioctl(sock, SIOCGIFFLAGS, struct.pack(_IFREQ, b"lo", 0))
        flags = struct.unpack(_IFREQ, current)[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | IFF_UP))


def _new_namespace() -> int:
    _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    _bring_loopback_up()
    return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def create_isolated() -> int:
    """A new network namespace whose only interface is loopback, up; a file descriptor on
    it (close-on-exec; the caller closes it). OSError if this process may not create one."""
    return _in_a_thread_of_its_own(_new_namespace)


def enter(namespace_fd: int) -> None:
    """Move the calling thread into the namespace (in a forked child, before ``exec``)."""
    _check(_libc.setns(namespace_fd, CLONE_NEWNET), "setns(CLONE_NEWNET)")


def socket_inside(namespace_fd: int) -> socket.socket:
    """A new TCP socket that lives in the namespace."""

    def make() -> socket.socket:
        enter(namespace_fd)
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    return _in_a_thread_of_its_own(make)
