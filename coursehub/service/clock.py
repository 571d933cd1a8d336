"""The service's clock: UTC now, or (dev only) now moved forward by the seconds written in
``COURSEHUB_DEV_CLOCK_OFFSET_FILE``, read at every call so a test can jump hours ahead
(GPU budgets, session limits) without waiting them out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from coursehub.service.models import utcnow


def offset_clock(path: Path) -> Callable[[], datetime]:
    def now() -> datetime:
        try:
            offset = float(path.read_text().strip() or 0)
        except FileNotFoundError:
            offset = 0.0
        return utcnow() + timedelta(seconds=offset)

    return now


def make_clock(offset_file: Path | None) -> Callable[[], datetime]:
    return utcnow if offset_file is None else offset_clock(offset_file)
