"""The streaming tar reader: it reads what honest tools write, the same way, and is strict
about the rest. (Hostile archives and their costs: ``test_archive.py``.)"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from coursehub.exchange.archive import (
    ArchiveError,
    extract_stored_archive,
    pack_files,
    read_archive,
)
from coursehub.exchange.tarstream import TarStream, TarStreamError

FILES = {
    "ps1.ipynb": b'{"cells": []}',
    "data/train.csv": b"x,y\n" * 300,
    "empty.txt": b"",
    # Over tar's 100-character name field: a pax header, a GNU long name or a ustar prefix.
    f"{'deep/' * 12}{'n' * 60}.txt": b"long",
    "exactly512.bin": bytes(range(256)) * 2,
}


def tarfile_archive(files: dict[str, bytes], fmt: int, folders: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=fmt) as tar:
        for path, content in files.items():
            if folders and "/" in path:
                info = tarfile.TarInfo(path.rsplit("/", 1)[0])
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            info = tarfile.TarInfo(path)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT], ids=str
)
def test_tarfile_archives_of_every_format_read_as_the_same_files(fmt):
    expected = read_archive(pack_files(FILES))
    got = read_archive(tarfile_archive(FILES, fmt))
    assert got.files == expected.files
    assert got.checksum == expected.checksum


@pytest.mark.parametrize("fmt", ["gnu", "posix", "ustar", "oldgnu"])
def test_gnu_tar_archives_read_as_the_same_files(tmp_path, fmt):
    folder = tmp_path / "ps1"
    for path, content in FILES.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(content)
    data = subprocess.run(
        ["tar", f"--format={fmt}", "-czf", "-", "-C", str(folder), *sorted(os.listdir(folder))],
        capture_output=True,
        check=True,
    ).stdout
    got = read_archive(data)
    assert got.checksum == read_archive(pack_files(FILES)).checksum
    extract_stored_archive(data, tmp_path / "out")
    for path, content in FILES.items():
        assert (tmp_path / "out" / path).read_bytes() == content


def test_several_gzip_members_and_zero_padding_read_as_one_stream():
    raw = gzip.decompress(pack_files(FILES))
    cut = len(raw) // 3
    data = gzip.compress(raw[:cut]) + bytes(100) + gzip.compress(raw[cut:])
    assert read_archive(data).checksum == read_archive(pack_files(FILES)).checksum


def test_content_left_unread_is_skipped_and_content_read_is_whole():
    stream = TarStream(pack_files({"a.bin": b"A" * 70_000, "b.txt": b"B"}), None)
    seen = {}
    for member in stream.members():
        if member.name == "b.txt":
            seen[member.name] = b"".join(stream.content())
    assert seen == {"b.txt": b"B"}


def headers_of(data: bytes) -> list[tuple[str, str, int, int]]:
    return [(m.name, m.kind, m.size, m.headers) for m in TarStream(data, None).members()]


def test_members_report_their_kind_and_how_many_headers_they_took():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, kind in (("d", tarfile.DIRTYPE), ("l", tarfile.SYMTYPE), ("f", tarfile.FIFOTYPE)):
            info = tarfile.TarInfo(name)
            info.type = kind
            tar.addfile(info)
        info = tarfile.TarInfo("x" * 150)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    assert headers_of(buffer.getvalue()) == [
        ("d", "folder", 0, 1),
        ("l", "link", 0, 1),
        ("f", "special", 0, 1),
        ("x" * 150, "file", 3, 2),
    ]


def damaged(offset: int, field: bytes) -> bytes:
    """A one-file archive with ``field`` written over its header at ``offset``, the header's
    checksum made right again (so only the change itself is wrong)."""
    raw = bytearray(gzip.decompress(pack_files({"ps1.ipynb": b"{}"})))
    raw[offset : offset + len(field)] = field
    raw[148:156] = b" " * 8
    raw[148:155] = f"{sum(raw[:512]):06o}\0".encode()
    return gzip.compress(bytes(raw))


def bad_checksum() -> bytes:
    raw = bytearray(gzip.decompress(pack_files({"ps1.ipynb": b"{}"})))
    raw[0] = ord("q")
    return gzip.compress(bytes(raw))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bad_checksum(), "entry 1's header has a wrong checksum"),
        (damaged(124, b"0000000009x\0"), "entry 1's size is not a number tar knows"),
        (damaged(124, b"\xff" * 12), "entry 1's size is not a number tar knows"),
        (pack_files({"ps1.ipynb": b"{}"})[:-30], "gzip stream ends early"),
        (pack_files({"ps1.ipynb": b"{}"}) + b"trailing junk", "not gzip"),
        (gzip.compress(b"\x1f" * 700), "entry 1's checksum is not a number tar knows"),
        (gzip.compress(gzip.decompress(pack_files({"a": b"x" * 600}))[:1000]), "inside a file"),
    ],
)
def test_malformed_archives_are_400_with_a_reason(data, message):
    with pytest.raises(ArchiveError, match=message) as refused:
        read_archive(data)
    assert refused.value.status == 400
    assert "not a gzip'd tar archive" in str(refused.value)


def record(key: str, value: str) -> bytes:
    """One pax record; its length counts its own digits."""
    body = f" {key}={value}\n"
    length = len(body) + 1
    while len(f"{length}{body}") != length:
        length += 1
    return f"{length}{body}".encode()


def pax_archive(records: bytes, kind: bytes = b"x") -> bytes:
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = kind
    pax.size = len(records)
    member = tarfile.TarInfo("plain.txt")
    member.size = 2
    return gzip.compress(
        pax.tobuf(format=tarfile.GNU_FORMAT)
        + records
        + bytes(-len(records) % 512)
        + member.tobuf(format=tarfile.GNU_FORMAT)
        + b"hi"
        + bytes(510 + 1024)
    )


def test_pax_records_name_and_size_the_entry():
    archive = read_archive(pax_archive(record("path", "renamed/a.txt")))
    assert [entry.path for entry in archive.files] == ["renamed/a.txt"]


@pytest.mark.parametrize(
    ("records", "kind", "message"),
    [
        (b"99 path=a\n", b"x", "does not parse"),
        (b"13 path=a.txt", b"x", "does not parse"),
        (b"12 noequals\n", b"x", "does not parse"),
        (record("path", "renamed/a.txt"), b"g", "global header that sets a name"),
        (record("GNU.sparse.major", "1"), b"x", "sparse"),
        (record("size", "1x23"), b"x", "size that is not a whole number"),
    ],
)
def test_pax_records_that_do_not_parse_or_guess_are_refused(records, kind, message):
    with pytest.raises(ArchiveError, match=message):
        read_archive(pax_archive(records, kind))


def test_a_long_name_and_a_pax_path_for_one_entry_is_refused():
    long_name = tarfile.TarInfo("././@LongLink")
    long_name.type = tarfile.GNUTYPE_LONGNAME
    long_name.size = 6
    header = long_name.tobuf(format=tarfile.GNU_FORMAT) + b"x.txt\0" + bytes(506)
    data = gzip.decompress(pax_archive(record("path", "y.txt")))
    with pytest.raises(ArchiveError, match="second long name"):
        read_archive(gzip.compress(header + data))


def test_a_folder_with_content_is_refused():
    folder = tarfile.TarInfo("d")
    folder.type = tarfile.DIRTYPE
    folder.size = 512
    data = gzip.compress(folder.tobuf(format=tarfile.GNU_FORMAT) + bytes(512 * 3))
    with pytest.raises(ArchiveError, match="the folder 'd' claims 512 bytes"):
        read_archive(data)


def test_base256_sizes_are_read():
    info = tarfile.TarInfo("big-field.txt")
    info.size = 5
    block = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    block[124:136] = b"\x80" + (5).to_bytes(11, "big")
    block[148:156] = b"        "
    block[148:155] = f"{sum(block):06o}\0".encode()
    data = gzip.compress(bytes(block) + b"hello" + bytes(507 + 1024))
    assert read_archive(data).files[0].size == 5


def test_stored_archives_that_cannot_be_written_say_why(tmp_path: Path):
    both = io.BytesIO()
    with tarfile.open(fileobj=both, mode="w:gz") as tar:
        for name in ("a", "a/b"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ArchiveError, match="'a/b' is inside 'a', which is a file"):
        extract_stored_archive(both.getvalue(), tmp_path / "out")
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = 10**9
    with pytest.raises(ArchiveError, match="64 KiB") as refused:
        extract_stored_archive(gzip.compress(header.tobuf(format=tarfile.GNU_FORMAT)), tmp_path)
    assert refused.value.status == 413


def test_the_reader_error_carries_whether_a_bound_was_passed():
    stream = TarStream(gzip.compress(bytes(4096)), max_inflated=1000)
    with pytest.raises(TarStreamError) as error:
        list(stream.members())
        stream.finish()
    assert error.value.too_big
