"""The pipes between the runner and a submission's process: length-prefixed JSON frames.

The runner writes requests (``{"nonce", "source"}``) to the process's fd 3 and reads its
replies from fd 4. Student code runs in that process and can write to fd 4 too, so the
runner trusts no frame: ``protocol.check_reply`` checks each one it reads.
"""

from __future__ import annotations

import json
import os
import struct

HEADER = struct.Struct(">I")
CHILD_FD_IN, CHILD_FD_OUT = 3, 4


def write_message(fd: int, message: dict) -> None:
    body = json.dumps(message, default=str).encode()
    view = memoryview(HEADER.pack(len(body)) + body)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_exactly(fd: int, size: int) -> bytes | None:
    """``size`` bytes, or None if the other end closed first."""
    chunks, remaining = [], size
    while remaining:
        chunk = os.read(fd, remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int) -> dict | None:
    """The next frame on ``fd`` (the submission's own side, which trusts the runner)."""
    header = read_exactly(fd, HEADER.size)
    if header is None:
        return None
    body = read_exactly(fd, HEADER.unpack(header)[0])
    return None if body is None else json.loads(body)
