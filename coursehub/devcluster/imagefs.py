"""Run a command with this machine's Python readable by every user, as in a container image.

    python -m coursehub.devcluster.imagefs -- COMMAND [ARG...]

The dev cluster runs containers from this machine's Python environment. In a real image
that environment is readable by any user; here it may sit under a folder only root may
enter (``/root/.pyenv``), so a process that switched to an unprivileged user (a grading
pod's submissions) could not import the standard library. This launcher gives the command
a mount namespace of its own in which such folders show only the entries leading to
Python, then ``exec``\\ s it. Needs root with CAP_SYS_ADMIN (it drops nothing itself).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from coursehub.linux import CLONE_NEWNS, make_mounts_private, make_reachable, python_paths, unshare


def enter_image_filesystem(staging_parent: Path) -> None:
    """This process (a container's child before ``exec``, or this launcher) gets a mount
    namespace of its own in which this machine's Python is readable by every user.
    ``staging_parent``: a folder of the caller's where the covered folder is bound for a
    moment."""
    unshare(CLONE_NEWNS)
    make_mounts_private()
    staging = Path(tempfile.mkdtemp(prefix="imagefs-", dir=staging_parent))
    try:
        make_reachable(python_paths(), staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m coursehub.devcluster.imagefs -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    enter_image_filesystem(Path(tempfile.gettempdir()))
    os.execvp(argv[0], argv)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
