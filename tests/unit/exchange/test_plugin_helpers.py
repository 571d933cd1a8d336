"""The exchange plugin's pure helpers: nbgrader's timestamps, notebook names, and the
checksum that tells a student their fetched feedback is out of date."""

from __future__ import annotations

from nbgrader.utils import parse_utc

from coursehub.exchange.archive import pack_files, read_archive
from coursehub.exchange.plugin import local_checksum, nbgrader_time, notebook_ids


def test_service_times_become_nbgrader_timestamps_that_nbgrader_parses():
    stamp = nbgrader_time("2026-11-23T10:15:30.123456+00:00")
    assert stamp == "2026-11-23 10:15:30.123456 UTC"
    assert parse_utc(stamp).isoformat() == "2026-11-23T10:15:30.123456"


def test_notebook_ids_are_top_level_notebooks_only():
    paths = ["ps1.ipynb", "data/extra.ipynb", "helper.py", "b.ipynb"]
    assert notebook_ids(paths) == ["b", "ps1"]


def test_local_checksum_matches_the_services_for_the_same_files(tmp_path):
    files = {"ps1.html": b"<html>feedback</html>", "extra/notes.html": b"<p>x</p>"}
    for path, content in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(content)
    assert local_checksum(tmp_path) == read_archive(pack_files(files)).checksum
    (tmp_path / "ps1.html").write_bytes(b"<html>older feedback</html>")
    assert local_checksum(tmp_path) != read_archive(pack_files(files)).checksum


def test_no_local_feedback_has_no_checksum(tmp_path):
    assert local_checksum(tmp_path / "missing") is None
    assert local_checksum(tmp_path) is None
