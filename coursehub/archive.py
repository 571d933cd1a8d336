"""Assignment archives: the gzip'd tars that travel between notebook pods and the service.

An archive holds one assignment folder; member paths are relative to it (``ps1.ipynb``,
``data/train.csv``). ``read_archive`` is the gate the service puts in front of its file store:
it accepts regular files and folders only, refuses names that could escape the folder or
confuse a filesystem, and enforces size limits while reading, so a hostile upload is refused
before anything is written. Every refusal is an ``ArchiveError`` whose message names the member
at fault.

Callers may rely on: ``pack_directory`` output is deterministic for the same files (sorted,
fixed mtimes and owners), so the same folder packed twice has the same checksum.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import os
import re
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MB = 1024 * 1024
# One path segment: letters, digits and a few punctuation marks; no leading dot or dash.
SEGMENT_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._ +()-]{0,99}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$")


class ArchiveError(ValueError):
    """An archive or name the service refuses. ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 20 * MB
    max_total_bytes: int = 100 * MB
    max_files: int = 1000


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Archive:
    """A checked archive: its bytes, its files and one checksum over all of them."""

    data: bytes
    files: tuple[FileEntry, ...]

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.files)

    @property
    def checksum(self) -> str:
        return content_checksum(self.files)


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a safe course/assignment/student name, else raise."""
    if not NAME_PATTERN.match(name) or ".." in name:
        raise ArchiveError(
            f"{what} {name!r} is not allowed: use letters, digits, '.', '_', '-' or spaces, "
            "starting with a letter or digit (at most 100 characters)"
        )
    return name


def check_member_path(path: str) -> str:
    """Return the normalised relative path of an archive member, or raise."""
    if path.startswith("/") or "\\" in path or "\x00" in path:
        raise ArchiveError(f"file {path!r} in the archive has an absolute or odd path")
    parts = [part for part in PurePosixPath(path).parts if part != "."]
    if not parts:
        raise ArchiveError(f"file {path!r} in the archive has an empty path")
    for part in parts:
        if part == ".." or not SEGMENT_PATTERN.match(part):
            raise ArchiveError(
                f"file {path!r} in the archive is not allowed: each part of a path may use "
                "letters, digits, spaces and . _ - + ( ), must not start with '.' or '-', "
                "and '..' is refused"
            )
    return "/".join(parts)


def content_checksum(files: Iterable[FileEntry]) -> str:
    """One checksum over file names and contents, independent of tar metadata."""
    digest = hashlib.sha256()
    for entry in sorted(files, key=lambda item: item.path):
        digest.update(f"{entry.path}\0{entry.sha256}\n".encode())
    return f"sha256:{digest.hexdigest()}"


def read_archive(data: bytes, limits: Limits = Limits()) -> Archive:
    """Check an uploaded archive without writing anything; raise ``ArchiveError``."""
    if len(data) > limits.max_total_bytes * 2 + MB:
        raise ArchiveError(_too_big("the upload", len(data), limits.max_total_bytes), 413)
    entries: list[FileEntry] = []
    seen: set[str] = set()
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                if member.isdir():
                    check_member_path(member.name)
                    continue
                if not member.isfile():
                    raise ArchiveError(
                        f"{member.name!r} in the archive is a link or special file; "
                        "only regular files and folders can be submitted"
                    )
                path = check_member_path(member.name)
                if path in seen:
                    raise ArchiveError(f"file {path!r} appears twice in the archive")
                seen.add(path)
                if len(seen) > limits.max_files:
                    raise ArchiveError(
                        f"the archive has more than {limits.max_files} files", status=413
                    )
                if member.size > limits.max_file_bytes:
                    raise ArchiveError(_too_big(path, member.size, limits.max_file_bytes), 413)
                total += member.size
                if total > limits.max_total_bytes:
                    raise ArchiveError(
                        f"the files add up to more than {limits.max_total_bytes / MB:g} MB, "
                        "the limit per submission",
                        413,
                    )
                content = tar.extractfile(member).read()
                entries.append(FileEntry(path, len(content), hashlib.sha256(content).hexdigest()))
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, OSError, UnicodeError) as error:
        raise ArchiveError(f"the upload is not a gzip'd tar archive ({error})") from None
    if not entries:
        raise ArchiveError("the archive holds no files")
    return Archive(data=data, files=tuple(sorted(entries, key=lambda item: item.path)))


def _too_big(what: str, size: int, limit: int) -> str:
    return f"{what} is {size / MB:.1f} MB; the limit per file is {limit / MB:g} MB"


def extract_archive(data: bytes, destination: Path, limits: Limits = Limits()) -> Archive:
    """Check ``data`` and write its files under ``destination`` (created); return the check."""
    archive = read_archive(data, limits)
    _write_members(data, destination)
    return archive


def extract_stored_archive(data: bytes, destination: Path) -> None:
    """Write the files of an archive the service checked when it was uploaded (it is kept by
    its checksum, so it cannot have changed): one pass, member paths still checked."""
    _write_members(data, destination)


def _write_members(data: bytes, destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            target = (root / check_member_path(member.name)).resolve()
            if root not in target.parents:  # belt and braces: read_archive refused these
                raise ArchiveError(f"file {member.name!r} would land outside the folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())


def pack_files(files: dict[str, bytes]) -> bytes:
    """A deterministic archive of ``{relative path: content}``."""
    buffer = io.BytesIO()
    # mtime=0 in the gzip header and fixed tar metadata keep the bytes reproducible.
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in sorted(files):
            content = files[path]
            info = tarfile.TarInfo(check_member_path(path))
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def pack_directory(folder: Path, ignore: Iterable[str] = (), max_file_bytes: int | None = None):
    """Pack every regular file under ``folder`` except hidden names (``.ipynb_checkpoints``,
    ``.DS_Store``: never assignment content, and refused by ``check_member_path``), names
    matching an ``ignore`` glob (nbgrader's ``CourseDirectory.ignore``) and files over
    ``max_file_bytes``; symlinks are skipped. Returns the archive bytes."""
    patterns = list(ignore)
    files: dict[str, bytes] = {}
    for directory, subdirs, names in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if not _ignored(d, patterns))
        for name in sorted(names):
            path = Path(directory) / name
            if _ignored(name, patterns) or path.is_symlink() or not path.is_file():
                continue
            if max_file_bytes is not None and path.stat().st_size > max_file_bytes:
                continue
            files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return pack_files(files)


def _ignored(name: str, patterns: list[str]) -> bool:
    return name.startswith(".") or any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
