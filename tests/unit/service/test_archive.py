"""Assignment archives: what the service accepts, what it refuses and why."""

from __future__ import annotations

import gzip
import io
import json
import re
import subprocess
import sys
import tarfile
import time
import zlib

import pytest

from coursehub.exchange.archive import (
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


# ----- hostile archives: every one must be refused before it costs memory or time ----------

KIB = 1024


def block_header(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0) -> bytes:
    """One raw ustar header block, whatever its type and size claim."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info.tobuf(format=tarfile.GNU_FORMAT)


def padded(content: bytes) -> bytes:
    return content + b"\0" * (-len(content) % 512)


ZEROS_MEMBER = gzip.compress(bytes(16 * MB), 9, mtime=0)  # 16 KiB of gzip, 16 MiB inflated


def gzipped(*pieces: bytes | int) -> bytes:
    """gzip of the pieces in order; an int piece is that many zero bytes (a multiple of
    16 MiB), as repeated gzip members, so a bomb never sits in the test's memory."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = []
    for piece in pieces:
        if isinstance(piece, int):
            out.append(compressor.flush())
            out.extend([ZEROS_MEMBER] * (piece // (16 * MB)))
            compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        else:
            out.append(compressor.compress(piece))
    out.append(compressor.flush())
    return b"".join(out)


def small_file(name: str = "ps1.ipynb", content: bytes = b"{}") -> bytes:
    return block_header(name, size=len(content)) + padded(content)


END = b"\0" * 1024

# A script run in a fresh interpreter, so its peak RSS says what one check cost: builds an
# archive whose first header is KIND with SIZE bytes of zeros (about 255 KiB gzip'd for
# 256 MiB), then checks it and prints the RSS growth, the seconds and the refusal.
# A script run in a fresh interpreter, so its peak RSS says what one check cost: builds an
# archive whose first header is KIND with SIZE bytes of zeros (about 255 KiB gzip'd for
# 256 MiB: repeated gzip members of 16 MiB each), then checks it and prints the RSS growth,
# the seconds and the refusal.
BOMB_SCRIPT = """
import gzip, json, resource, sys, tarfile, time
from coursehub.exchange.archive import ArchiveError, MB, read_archive

kind, size = sys.argv[1].encode(), int(sys.argv[2])
info = tarfile.TarInfo("././@PaxHeader" if kind in b"xg" else "././@LongLink")
info.type, info.size = kind, size
zeros = gzip.compress(bytes(16 * MB), 9, mtime=0)
member = tarfile.TarInfo("ps1.ipynb")
member.size = 2
data = b"".join(
    [gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT), mtime=0)]
    + [zeros] * (size // (16 * MB))
    + [gzip.compress(member.tobuf(format=tarfile.GNU_FORMAT) + b"{}" + bytes(1534), mtime=0)]
)
del zeros
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
try:
    read_archive(data)
    status, message = 200, "accepted"
except ArchiveError as error:
    status, message = error.status, str(error)
seconds = time.perf_counter() - started
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"upload_kib": len(data) // 1024, "rss_growth_kib": grown,
                  "seconds": seconds, "status": status, "message": message}))
"""


@pytest.mark.parametrize(
    ("kind", "what"), [("x", "extended"), ("g", "extended"), ("L", "long-name")]
)
def test_a_huge_extension_header_is_refused_without_reading_it_into_memory(kind, what):
    """Security review §6: a 255 KiB upload whose first header claims 256 MiB of zeros
    cost +269 MiB of RSS and seconds of blocked loop; now it is refused from the header
    alone."""
    result = subprocess.run(
        [sys.executable, "-c", BOMB_SCRIPT, kind, str(256 * MB)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    measured = json.loads(result.stdout)
    assert measured["upload_kib"] < 300, measured
    assert measured["status"] == 413, measured
    assert what in measured["message"] and "64 KiB" in measured["message"], measured
    assert measured["rss_growth_kib"] < 4 * KIB, measured  # a few MiB at most
    assert measured["seconds"] < 1.0, measured


def test_a_gzip_bomb_is_refused_after_a_bounded_inflation():
    """1 MB of gzip that inflates to 1 GiB (a valid archive followed by zeros): refused
    once the inflated bytes pass the submission limit plus a small overhead per member."""
    data = gzipped(small_file(), 1024 * MB)
    assert len(data) < 1.1 * MB
    started = time.perf_counter()
    with pytest.raises(ArchiveError, match=r"inflates to more than 104 MB") as refused:
        read_archive(data)
    assert refused.value.status == 413
    assert time.perf_counter() - started < 3.0


def test_a_flood_of_folders_counts_against_max_files():
    """Review §6: 200,000 entries named 'd' (a 436 KiB upload) were accepted after 10 s;
    every entry counts now, so the check stops at entry 1,001."""
    folders = block_header("d", tarfile.DIRTYPE) * 1000
    data = gzipped(small_file(), *([folders] * 200), END)
    assert len(data) < 600 * KIB
    started = time.perf_counter()
    with pytest.raises(ArchiveError, match=r"more than 1000 files.*'d'") as refused:
        read_archive(data)
    assert refused.value.status == 413
    assert time.perf_counter() - started < 1.0


def test_extended_and_long_name_headers_count_as_entries():
    limits = Limits(max_files=3)
    long_names = {f"{'d' * 60}/{'f' * 60}{n}.txt": b"x" for n in range(2)}  # 1 PAX header each
    read_archive(pack_files(dict(list(long_names.items())[:1])), limits)  # 2 entries: fine
    with pytest.raises(ArchiveError, match="more than 3 files") as refused:
        read_archive(pack_files(long_names), limits)
    assert refused.value.status == 413
    gnu = io.BytesIO()
    with tarfile.open(fileobj=gnu, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name in long_names:
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ArchiveError, match="more than 3 files"):
        read_archive(gnu.getvalue(), limits)


def test_nesting_depth_is_bounded():
    limits = Limits(max_depth=4)
    assert read_archive(pack_files({"a/b/c/d.txt": b"x"}), limits).files[0].path == "a/b/c/d.txt"
    with pytest.raises(ArchiveError, match=r"'a/b/c/d/e.txt' is 5 levels deep; the limit is 4"):
        read_archive(pack_files({"a/b/c/d/e.txt": b"x"}), limits)
    with pytest.raises(ArchiveError, match="levels deep") as refused:
        read_archive(raw_archive(member("/".join("d" * 40), tarfile.DIRTYPE), member("f")))
    assert refused.value.status == 413


def test_a_chain_of_extension_headers_is_refused():
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XGLTYPE
    record = b"10 a=bcde\n"
    pax.size = len(record)
    chain = (pax.tobuf(format=tarfile.GNU_FORMAT) + padded(record)) * 20
    with pytest.raises(ArchiveError, match="extended headers in a row") as refused:
        read_archive(gzipped(chain, small_file(), END))
    assert refused.value.status == 400


# ----- names that would break collect (review §7) and trailing newlines (review §14) -------


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([member("a"), member("a/b")], r"'a/b' is inside 'a', which is a file"),
        ([member("a/b"), member("a")], r"'a' is a file and also the folder of 'a/b'"),
        ([member("a", tarfile.DIRTYPE), member("a")], r"'a' is a file and also a folder"),
        ([member("a"), member("a", tarfile.DIRTYPE)], r"'a' is a file and also a folder"),
        ([member("a"), member("a/b", tarfile.DIRTYPE)], r"'a/b' is inside 'a', which is a file"),
    ],
)
def test_a_name_that_is_both_a_file_and_a_folder_is_refused(members, message):
    with pytest.raises(ArchiveError, match=message) as refused:
        read_archive(raw_archive(*members))
    assert refused.value.status == 400


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("timestamp.txt/x", "the service writes timestamp.txt"),
        ("feedback/ps1.html", "feedback/ is where nbgrader puts returned feedback"),
        ("feedback", "feedback/ is where nbgrader puts returned feedback"),
        ("ps1.incoming/x", "staging"),
        ("ps1.collecting", "staging"),
    ],
)
def test_reserved_names_are_refused_in_submissions_only(path, message):
    data = raw_archive(member("ps1.ipynb"), member(path))
    with pytest.raises(ArchiveError, match=rf"'{re.escape(path)}'.*{message}") as refused:
        read_archive(data, submission=True)
    assert refused.value.status == 400
    assert {entry.path for entry in read_archive(data).files} == {"ps1.ipynb", path}


def test_submissions_may_hold_a_timestamp_file_and_nested_feedback_folders():
    """The service overwrites a submitted timestamp.txt with its own clock; only the top
    level is reserved."""
    data = pack_files({"ps1.ipynb": b"{}", "timestamp.txt": b"1999", "data/feedback/x": b""})
    assert len(read_archive(data, submission=True).files) == 3
    with pytest.raises(ArchiveError, match=r"timestamp\.txt"):
        read_archive(raw_archive(member("timestamp.txt", tarfile.DIRTYPE)), submission=True)


def test_a_trailing_newline_does_not_pass_for_a_name():
    with pytest.raises(ArchiveError, match="is not allowed"):
        check_name("ai-101\n", "course")
    with pytest.raises(ArchiveError, match=r"'ps1.ipynb\\n'.* is not allowed"):
        read_archive(raw_archive(member("ps1.ipynb\n")))
