"""Laying a stored submission out in the course folder: all of it, or nothing changes."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime

import pytest

from coursehub.exchange.archive import pack_files
from coursehub.service.workspace import SubmissionWriteError, Workspace

WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def stored_before_names_were_checked(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"ps1.ipynb": b"{}", "timestamp.txt/x": b"x"}, "Is a directory: timestamp.txt"),
        ({"a": b"x", "a/b": b"y"}, "'a/b' is inside 'a', which is a file"),
    ],
)
def test_a_submission_that_cannot_be_written_leaves_the_last_one_as_it_was(tmp_path, files, reason):
    workspace = Workspace(tmp_path, "ai-101", "sqlite://")
    workspace.write_submission("student1", "ps1", pack_files({"ps1.ipynb": b"v1"}), WHEN)
    folder = tmp_path / "workspaces/ai-101/submitted/student1/ps1"
    before = {path.name: path.read_bytes() for path in folder.iterdir()}

    with pytest.raises(SubmissionWriteError) as failed:
        workspace.write_submission("student1", "ps1", stored_before_names_were_checked(files), WHEN)

    assert reason in str(failed.value)
    assert str(tmp_path) not in str(failed.value)
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    assert sorted(path.name for path in folder.parent.iterdir()) == ["ps1"]  # no staging left
    assert before["timestamp.txt"] == b"2026-12-01 09:30:00.000000 UTC"
