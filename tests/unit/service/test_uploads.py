"""Upload checks run off the event loop, one per user at a time."""

from __future__ import annotations

import asyncio
import time

import pytest

from coursehub.exchange.archive import ArchiveError, Limits, pack_files
from coursehub.service.rules import Refusal
from coursehub.service.uploads import UploadChecks

LIMITS = Limits(max_file_bytes=64 * 2**20, max_total_bytes=64 * 2**20)
SLOW = pack_files({"zeros.bin": bytes(48 * 2**20)})  # some tens of ms to inflate and hash


async def test_a_second_upload_of_the_same_user_is_refused_while_the_first_is_checked():
    checks = UploadChecks()
    try:
        first = asyncio.create_task(checks.check("student1", SLOW, LIMITS))
        await asyncio.sleep(0)  # the first has taken its place
        with pytest.raises(Refusal, match="student1 is already uploading an archive") as refused:
            await checks.check("student1", pack_files({"a.txt": b"x"}), LIMITS)
        assert refused.value.status == 429
        other = await checks.check("student2", pack_files({"a.txt": b"x"}), LIMITS)
        assert not first.done() and [entry.path for entry in other.files] == ["a.txt"]
        assert (await first).size == 48 * 2**20
        # Its place is free again, after a refusal as after a success.
        with pytest.raises(ArchiveError):
            await checks.check("student1", b"not an archive", LIMITS)
        assert (await checks.check("student1", pack_files({"b": b""}), LIMITS)).files
    finally:
        checks.close()


async def test_the_loop_keeps_turning_while_an_upload_is_checked():
    checks = UploadChecks()
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    try:
        started = time.perf_counter()
        await checks.check("student1", SLOW, LIMITS)
        took = time.perf_counter() - started
    finally:
        ticker.cancel()
        checks.close()
    assert took > 0.02  # long enough to tell
    assert ticks >= took / 0.01, (ticks, took)  # a tick every ms, or near it, all along
