"""Assignment archives: what the service accepts, what it refuses and why."""

from __future__ import annotations

import io
import tarfile

import pytest

from coursehub.archive import (
    MB,
    ArchiveError,
    Limits,
    check_name,
    extract_archive,
    pack_directory,
    pack_files,
    read_archive,
)


def raw_archive(*members: tarfile.TarInfo, content: bytes = b"x") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in members:
            if member.isfile():
                member.size = len(content)
                tar.addfile(member, io.BytesIO(content))
            else:
                tar.addfile(member)
    return buffer.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_pack_and_extract_round_trip_with_a_stable_checksum(tmp_path):
    source = tmp_path / "ps1"
    (source / "data").mkdir(parents=True)
    (source / "ps1.ipynb").write_text("{}")
    (source / "data" / "points.csv").write_text("x,y\n")
    (source / ".ipynb_checkpoints").mkdir()
    (source / ".ipynb_checkpoints" / "ps1-checkpoint.ipynb").write_text("{}")
    (source / "cache.pyc").write_bytes(b"\0")
    data = pack_directory(source, ignore=["*.pyc"])
    assert data == pack_directory(source, ignore=["*.pyc"])  # deterministic bytes
    archive = extract_archive(data, tmp_path / "copy")
    assert [entry.path for entry in archive.files] == ["data/points.csv", "ps1.ipynb"]
    assert (tmp_path / "copy" / "data" / "points.csv").read_text() == "x,y\n"
    assert (
        archive.checksum
        == read_archive(pack_files({"ps1.ipynb": b"{}", "data/points.csv": b"x,y\n"})).checksum
    )


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (raw_archive(member("../outside.py")), 400, "'..' is refused"),
        (raw_archive(member("/etc/passwd")), 400, "absolute or odd path"),
        (raw_archive(member("a\\b.py")), 400, "absolute or odd path"),
        (raw_archive(member(".bashrc")), 400, "must not start with '.'"),
        (raw_archive(member("-rf")), 400, "must not start with '.' or '-'"),
        (raw_archive(member("link", tarfile.SYMTYPE, "/etc/passwd")), 400, "link or special"),
        (raw_archive(member("hard", tarfile.LNKTYPE, "ps1.ipynb")), 400, "link or special"),
        (raw_archive(member("dev", tarfile.CHRTYPE)), 400, "link or special"),
        (raw_archive(member("a.py"), member("a.py")), 400, "appears twice"),
        (b"not a tar at all", 400, "not a gzip'd tar"),
        (raw_archive(member("empty", tarfile.DIRTYPE)), 400, "holds no files"),
    ],
)
def test_refused_archives_say_which_member(data, status, message):
    with pytest.raises(ArchiveError, match=message.replace("(", r"\(")) as refused:
        read_archive(data)
    assert refused.value.status == status


def test_size_limits_are_413_and_name_the_file():
    limits = Limits(max_file_bytes=MB, max_total_bytes=2 * MB, max_files=3)
    with pytest.raises(ArchiveError, match=r"big.bin is 1.0 MB; the limit per file is 1 MB") as e:
        read_archive(pack_files({"big.bin": b"0" * (MB + 1)}), limits)
    assert e.value.status == 413
    parts = {f"part{n}.bin": b"0" * (MB - 10) for n in range(3)}
    with pytest.raises(ArchiveError, match="limit per submission") as e:
        read_archive(pack_files(parts), limits)
    assert e.value.status == 413
    many = {f"f{n}.txt": b"x" for n in range(4)}
    with pytest.raises(ArchiveError, match="more than 3 files"):
        read_archive(pack_files(many), limits)


def test_extract_writes_nothing_when_the_archive_is_refused(tmp_path):
    with pytest.raises(ArchiveError):
        extract_archive(raw_archive(member("ok.txt"), member("../evil.txt")), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("name", ["ps1", "Lab 2", "final-project_v2", "a.b"])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["..", "../etc", "a/b", ".hidden", "", "x" * 101, "a..b"])
def test_bad_names(name):
    with pytest.raises(ArchiveError, match="is not allowed"):
        check_name(name, "assignment")
