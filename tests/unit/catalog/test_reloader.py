"""The reloader notices edits, additions and removals, and keeps valid courses working."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from catalog_files import LINE_GPU

from coursehub.catalog import CatalogError, CatalogReloader

LOG = logging.getLogger("test.catalog.reloader")


@pytest.fixture
def courses(tmp_path: Path, sample_courses: Path) -> Path:
    root = tmp_path / "courses"
    shutil.copytree(sample_courses, root)
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_no_change_no_reload(courses):
    reloader = CatalogReloader(courses, LOG)
    first = reloader.catalog
    assert list(first.courses) == ["ai-101", "ml-201"]
    assert reloader.check() is False
    assert reloader.check() is False
    assert reloader.catalog is first


def test_a_modified_course_file_reloads(courses):
    reloader = CatalogReloader(courses, LOG)
    edit(courses / "ai-101" / "course.yaml", "Introduction to Deep Learning", "Deep Learning I")
    assert reloader.check() is True
    assert reloader.catalog.courses["ai-101"].title == "Deep Learning I"
    assert reloader.check() is False


def test_a_roster_change_reloads(courses):
    reloader = CatalogReloader(courses, LOG)
    with (courses / "ai-101" / "roster.csv").open("a") as roster:
        roster.write("newstudent,new@example.edu,New Student\n")
    assert reloader.check() is True
    assert "newstudent" in reloader.catalog.courses["ai-101"].students


def test_added_and_removed_courses_reload(courses):
    reloader = CatalogReloader(courses, LOG)
    shutil.copytree(courses / "ml-201", courses / "ml-202")
    edit(courses / "ml-202" / "course.yaml", "id: ml-201", "id: ml-202")
    assert reloader.check() is True
    assert list(reloader.catalog.courses) == ["ai-101", "ml-201", "ml-202"]
    shutil.rmtree(courses / "ml-201")
    assert reloader.check() is True
    assert list(reloader.catalog.courses) == ["ai-101", "ml-202"]


def test_a_broken_course_is_logged_and_comes_back_when_fixed(courses, caplog):
    reloader = CatalogReloader(courses, LOG)
    course_file = courses / "ml-201" / "course.yaml"
    good = course_file.read_text()
    edit(course_file, "      count: 1", "      count: -1")
    line = good.splitlines().index("      count: 1") + 1

    with caplog.at_level(logging.ERROR, logger=LOG.name):
        assert reloader.check() is True
    assert list(reloader.catalog.courses) == ["ai-101"]  # the other course still loads
    assert [record.getMessage() for record in caplog.records] == [
        (
            f"Course catalog problem: {course_file}:{line}: environments[0].gpu.count: "
            "Input should be greater than or equal to 0 (got -1)"
        )
    ]
    assert all(record.levelno == logging.ERROR for record in caplog.records)

    course_file.write_text(good)
    assert reloader.check() is True
    assert list(reloader.catalog.courses) == ["ai-101", "ml-201"]
    assert reloader.catalog.problems == ()


def test_problems_at_start_are_logged(tmp_path, caplog):
    from catalog_files import DEMO_COURSE, write_course_files

    root = tmp_path / "courses"
    path = write_course_files(root, "demo", DEMO_COURSE.replace("count: 1,", "count: -1,"))
    with caplog.at_level(logging.ERROR, logger=LOG.name):
        reloader = CatalogReloader(root, LOG)
    assert dict(reloader.catalog.courses) == {}
    assert f"{path}:{LINE_GPU}: environments[0].gpu.count" in caplog.text


def test_a_missing_roster_that_appears_reloads(courses):
    roster = courses / "ai-101" / "roster.csv"
    saved = roster.read_text()
    roster.unlink()
    reloader = CatalogReloader(courses, LOG)
    assert "ai-101" not in reloader.catalog.courses
    assert reloader.check() is False
    roster.write_text(saved)
    assert reloader.check() is True
    assert "student1" in reloader.catalog.courses["ai-101"].students


def test_a_vanished_root_keeps_the_last_catalog(courses, caplog):
    reloader = CatalogReloader(courses, LOG)
    moved = courses.with_name("elsewhere")
    courses.rename(moved)
    with caplog.at_level(logging.ERROR, logger=LOG.name):
        assert reloader.check() is False
        assert reloader.check() is False
    assert caplog.text.count("is gone; keeping the last catalog") == 1
    assert list(reloader.catalog.courses) == ["ai-101", "ml-201"]
    moved.rename(courses)
    assert reloader.check() is True


def test_a_missing_root_at_start_raises(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        CatalogReloader(tmp_path / "nope", LOG)
