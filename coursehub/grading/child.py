"""A submission's process: confined by ``sandbox``, it runs the cells the runner sends.

It is forked by the zygote (``coursehub.grading.zygote``), a fresh interpreter that has
imported IPython and the course's libraries and has read nothing of any submission, so
the process holds nothing but what it is sent: its own cells, one at a time.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from coursehub.grading.channel import CHILD_FD_IN, CHILD_FD_OUT, read_message, write_message
from coursehub.grading.sandbox import Sandbox

SANDBOX_FAILED = 70


def child_main(sandbox: Sandbox, request: dict, to_child: int, from_child: int) -> None:
    """Runs in the forked process; never returns. ``request``: uid, folder, environ."""
    try:
        # Out of the way first: either pipe end may sit on fd 3 or 4 already.
        requests = fcntl.fcntl(to_child, fcntl.F_DUPFD, CHILD_FD_OUT + 1)
        replies = fcntl.fcntl(from_child, fcntl.F_DUPFD, CHILD_FD_OUT + 1)
        os.dup2(requests, CHILD_FD_IN)
        os.dup2(replies, CHILD_FD_OUT)
        devnull = os.open(os.devnull, os.O_RDWR)  # above fd 4, which are taken now
        for fd in (0, 1, 2):  # fd-level output of C code or os.write goes nowhere
            os.dup2(devnull, fd)
        # No handle on the zygote, the runner or another submission: only fds 0-4 stay.
        os.closerange(CHILD_FD_OUT + 1, os.sysconf("SC_OPEN_MAX"))
        sandbox.enter(request["uid"], Path(request["folder"]), request["environ"])
        from coursehub.grading.shell import make_shell

        shell = make_shell(sandbox.limits.max_output)
    except Exception as error:
        write_message(CHILD_FD_OUT, {"fatal": f"{type(error).__name__}: {error}"})
        os._exit(SANDBOX_FAILED)
    write_message(CHILD_FD_OUT, {"ready": True})
    pid = os.getpid()
    while True:
        request = read_message(CHILD_FD_IN)
        if request is None:
            os._exit(0)
        reply = shell.run(request["source"])
        if os.getpid() != pid:
            os._exit(0)  # a copy forked by student code must not answer for the cell
        reply["nonce"] = request["nonce"]
        write_message(CHILD_FD_OUT, reply)
