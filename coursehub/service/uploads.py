"""Checking uploaded archives without stalling the service.

``read_archive`` inflates and hashes everything an upload holds, up to the submission limit
(100 MB by default): a second or more of CPU for the largest. It runs here in a few threads
of its own, so the event loop keeps answering sign-ins, GPU admission and everyone else's
requests meanwhile, and a burst of uploads waits for those threads instead of taking the
workers that file and database work use. Each user has at most one upload being checked
(or waiting for a thread) at a time; a second one is refused at once with 429, so no one can
fill the queue alone.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from coursehub.exchange.archive import Archive, Limits, read_archive
from coursehub.service.rules import Refusal

CHECK_THREADS = 2


class UploadChecks:
    def __init__(self, threads: int = CHECK_THREADS):
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="coursehub-upload")
        self._uploading: set[str] = set()  # touched on the event loop only: no lock needed

    async def check(
        self, user: str, data: bytes, limits: Limits, *, submission: bool = False
    ) -> Archive:
        """``read_archive(data, limits, submission=…)`` in a worker thread; raises its
        ``ArchiveError``, or ``Refusal(429)`` while ``user`` has another upload in check."""
        if user in self._uploading:
            raise Refusal(
                429,
                f"{user} is already uploading an archive; wait for that upload's answer, "
                "then try again",
            )
        self._uploading.add(user)
        try:
            check = partial(read_archive, data, limits, submission=submission)
            return await asyncio.get_running_loop().run_in_executor(self._executor, check)
        finally:
            self._uploading.discard(user)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
