"""Fixtures for the catalog tests (real files in a temporary folder, no servers).

- ``write_course(text, folder="demo", roster=None)``: writes
  ``<tmp>/courses/<folder>/course.yaml`` (and ``roster.csv`` if given); returns its path.
- ``sample_courses``: the repository's ``courses/`` folder.

Course texts and their line numbers live in ``catalog_files.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from catalog_files import write_course_files

WriteCourse = Callable[..., Path]


@pytest.fixture
def write_course(tmp_path: Path) -> WriteCourse:
    def write(text: str, folder: str = "demo", roster: str | bytes | None = None) -> Path:
        return write_course_files(tmp_path / "courses", folder, text, roster)

    return write


@pytest.fixture(scope="session")
def sample_courses(repo_root: Path) -> Path:
    return repo_root / "courses"
