"""``CatalogSync``: course files plus the membership overlay, polled without blocking the
loop; outages of the overlay source are logged once and the last overlay kept."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from coursehub.catalog.overlay import ImportedRoster, Membership, Overlay, RosterEntry
from coursehub.catalog.sync import CatalogSync

COURSE = """\
id: demo
title: Demo
term: t
staff: {instructors: [teacher]}
students: [alice, bob]
environments:
  - {slug: cpu, display_name: CPU, image: img}
"""


class Source:
    """An overlay source driven by the test: returns ``overlay`` (None: unchanged) or
    raises ``error``; counts calls and how many ran at once."""

    def __init__(self):
        self.overlay: Overlay | None = None
        self.error: Exception | None = None
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        self.delay = 0.0

    async def __call__(self) -> Overlay | None:
        self.calls += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.delay)
            if self.error is not None:
                raise self.error
            overlay, self.overlay = self.overlay, None
            return overlay
        finally:
            self.running -= 1


@pytest.fixture
def courses(tmp_path: Path) -> Path:
    (tmp_path / "courses" / "demo").mkdir(parents=True)
    (tmp_path / "courses" / "demo" / "course.yaml").write_text(COURSE)
    return tmp_path / "courses"


def imported(*names: str) -> Overlay:
    entries = tuple(RosterEntry(name) for name in names)
    return Overlay(rosters=(ImportedRoster("demo", entries, "teacher", "2026-01-01T00:00:00"),))


def make_sync(courses: Path, source: Source, caplog) -> tuple[CatalogSync, list]:
    caplog.set_level(logging.INFO, logger="test.sync")
    sync = CatalogSync(courses, logging.getLogger("test.sync"), 3600, source, "the test source")
    seen: list = []
    sync.on_change(lambda catalog: seen.append(list(catalog.courses["demo"].students)))
    return sync, seen


async def test_the_overlay_applies_and_listeners_run_only_on_change(courses, caplog):
    source = Source()
    sync, seen = make_sync(courses, source, caplog)
    assert not sync.overlay_loaded
    assert sync.current().courses["demo"].students == ["alice", "bob"]

    source.overlay = imported("carol")
    assert await sync.poll() is True
    assert sync.overlay_loaded
    assert sync.current().courses["demo"].students == ["carol"]
    assert sync.file_catalog().courses["demo"].students == ["alice", "bob"]
    assert await sync.poll() is False  # unchanged: no listener call
    source.overlay = imported("carol")  # equal content from the source: no change either
    assert await sync.poll() is False
    assert seen == [["carol"]]

    text = (courses / "demo" / "course.yaml").read_text()
    (courses / "demo" / "course.yaml").write_text(text.replace("[teacher]", "[teacher, carol]"))
    assert await sync.poll() is True  # a file edit: carol is staff now, so no student
    assert sync.current().courses["demo"].students == []
    assert seen == [["carol"], []]


async def test_an_outage_keeps_the_last_overlay_and_is_logged_once(courses, caplog):
    source = Source()
    sync, _ = make_sync(courses, source, caplog)
    source.overlay = Overlay(memberships=(Membership("dave", "oidc", "demo", "student"),))
    await sync.poll()
    assert "dave" in sync.current().courses["demo"].students

    source.error = ConnectionRefusedError("service down")
    for _ in range(5):
        assert await sync.poll() is False
    assert "dave" in sync.current().courses["demo"].students
    outage = [r for r in caplog.records if "Cannot load course memberships" in r.message]
    assert len(outage) == 1 and outage[0].levelno == logging.WARNING
    assert "service down" in outage[0].message and "keeping the last ones" in outage[0].message

    source.error = None
    source.overlay = imported("erin")
    assert await sync.poll() is True
    assert sync.current().courses["demo"].students == ["erin"]
    assert sum("load again" in r.message for r in caplog.records) == 1
    source.error = RuntimeError("down again")
    await sync.poll()
    await sync.poll()
    outages = [r for r in caplog.records if "Cannot load course memberships" in r.message]
    assert len(outages) == 2  # a second outage is a second message


async def test_a_source_down_from_the_start_is_an_info_and_files_still_count(courses, caplog):
    source = Source()
    source.error = OSError("not up yet")
    sync, _ = make_sync(courses, source, caplog)
    await sync.poll()
    assert sync.current().courses["demo"].students == ["alice", "bob"]
    (record,) = [r for r in caplog.records if "Cannot load" in r.message]
    assert record.levelno == logging.INFO and "course files only" in record.message
    assert not sync.overlay_loaded


async def test_refresh_and_poll_do_not_interleave(courses, caplog):
    source = Source()
    source.delay = 0.05
    sync, _ = make_sync(courses, source, caplog)
    source.overlay = imported("frank")
    results = await asyncio.gather(sync.poll(), sync.refresh_overlay(), sync.poll())
    assert source.calls == 3 and source.most_at_once == 1
    assert results == [True, False, False]
    assert sync.current().courses["demo"].students == ["frank"]


async def test_wait_ready_tries_once_until_loaded_and_gives_up_after_its_timeout(courses, caplog):
    source = Source()
    source.delay = 5
    sync, _ = make_sync(courses, source, caplog)
    await sync.wait_ready(timeout=0.1)
    assert not sync.overlay_loaded
    assert any("did not arrive within" in r.message for r in caplog.records)

    source.delay = 0
    source.overlay = imported("gina")
    await sync.wait_ready()
    assert sync.overlay_loaded and sync.current().courses["demo"].students == ["gina"]
    calls = source.calls
    await sync.wait_ready()  # loaded: no more calls
    assert source.calls == calls


async def test_without_a_source_it_is_the_file_catalog(courses, caplog):
    sync = CatalogSync(courses, logging.getLogger("test.sync"), 3600)
    assert sync.overlay_loaded
    await sync.wait_ready()
    assert await sync.poll() is False
    assert sync.current() is sync.file_catalog()


async def test_polling_runs_on_the_loop(courses, caplog):
    source = Source()
    source.overlay = imported("hugo")
    sync = CatalogSync(courses, logging.getLogger("test.sync"), 0.05, source)
    try:
        assert sync.start() is True  # starts with a poll at once
        deadline = asyncio.get_running_loop().time() + 5
        while sync.current().courses["demo"].students != ["hugo"]:
            assert asyncio.get_running_loop().time() < deadline, "no poll ran"
            await asyncio.sleep(0.01)
        calls = source.calls
        while source.calls < calls + 3:  # and keeps polling
            assert asyncio.get_running_loop().time() < deadline, "polling stopped"
            await asyncio.sleep(0.01)
    finally:
        sync.stop()
