"""Assignment archives: the gzip'd tars that travel between notebook pods and the service.

An archive holds one assignment folder; member paths are relative to it (``ps1.ipynb``,
``data/train.csv``). ``read_archive`` is the gate the service puts in front of its file store:
it accepts regular files and folders only, refuses names that could escape the folder or
confuse a filesystem (a name that is both a file and a folder included), and enforces its
limits while it streams through the upload (``coursehub.exchange.tarstream``): entries of
every kind, nesting depth, bytes per file and in all, and the inflated bytes of the gzip
stream itself.
So a hostile upload is refused before anything is written, at a cost in memory and time that
does not depend on what its headers claim. Every refusal is an ``ArchiveError`` whose message
names the member at fault and the limit; ``status`` is 413 for a limit, 400 otherwise.

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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from coursehub.exchange.tarstream import TarMember, TarStream, TarStreamError

MB = 1024 * 1024
# One path segment: letters, digits and a few punctuation marks; no leading dot or dash.
# Matched with fullmatch: `$` would also accept a trailing newline.
SEGMENT_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._ +()-]{0,99}")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,99}")
# What an entry may cost beyond its content: its header, its padding to 512 bytes, and a pax
# header for a long path (a few KiB at most); then the end blocks and padding of the archive.
ENTRY_OVERHEAD = 4 * 1024
ARCHIVE_OVERHEAD = 20 * 1024
# Top-level names of a submission that collect or nbgrader give a meaning of their own; see
# reserved_in_submission(). Staging folders (`.<assignment>.incoming` of the service,
# `.<name>.collecting` and `.<name>.fetching` of the exchange client, `.upload-*` of the blob
# store) start with a dot, which no member may; their suffixes are reserved at the top as
# well, so a member can never pass for one should a staging name ever lose its dot.
TIMESTAMP_FILE = "timestamp.txt"
FEEDBACK_FOLDER = "feedback"
STAGING_SUFFIXES = (".incoming", ".collecting", ".fetching")


class ArchiveError(ValueError):
    """An archive or name the service refuses. ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """``max_files`` counts every entry: files, folders, and the extended and long-name
    headers tar adds for long paths. ``max_depth`` counts the parts of a path."""

    max_file_bytes: int = 20 * MB
    max_total_bytes: int = 100 * MB
    max_files: int = 1000
    max_depth: int = 32

    @property
    def max_inflated_bytes(self) -> int:
        """The most an honest archive within these limits inflates to."""
        return self.max_total_bytes + self.max_files * ENTRY_OVERHEAD + ARCHIVE_OVERHEAD


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
    if not NAME_PATTERN.fullmatch(name) or ".." in name:
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
        if part == ".." or not SEGMENT_PATTERN.fullmatch(part):
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


def read_archive(data: bytes, limits: Limits = Limits(), *, submission: bool = False) -> Archive:
    """Check an uploaded archive without writing anything; raise ``ArchiveError``.

    ``submission``: also refuse the top-level names collect and nbgrader reserve
    (``reserved_in_submission``)."""
    if len(data) > limits.max_total_bytes * 2 + MB:
        raise ArchiveError(_too_big("the upload", len(data), limits.max_total_bytes), 413)
    entries: list[FileEntry] = []
    tree = _NameTree()
    counted = total = 0
    with _reading():
        stream = TarStream(data, limits.max_inflated_bytes)
        for member in stream.members():
            counted += member.headers
            if counted > limits.max_files:
                raise ArchiveError(
                    f"the archive has more than {limits.max_files} files (folders and the "
                    f"extra headers tar writes for long names count as files too); it goes "
                    f"on with {member.name!r}",
                    413,
                )
            path = check_member_path(member.name)
            depth = path.count("/") + 1
            if depth > limits.max_depth:
                raise ArchiveError(
                    f"{path!r} is {depth} levels deep; the limit is {limits.max_depth}", 413
                )
            if member.kind not in ("file", "folder"):
                raise _not_a_file(member)
            tree.add(path, is_file=member.kind == "file")
            if submission:
                reason = reserved_in_submission(path, is_file=member.kind == "file")
                if reason:
                    raise ArchiveError(f"{path!r} is not allowed in a submission: {reason}")
            if member.kind == "folder":
                continue
            if member.size > limits.max_file_bytes:
                raise ArchiveError(_too_big(path, member.size, limits.max_file_bytes), 413)
            total += member.size
            if total > limits.max_total_bytes:
                raise ArchiveError(
                    f"the files add up to more than {limits.max_total_bytes / MB:g} MB, "
                    f"the limit per submission (at {path!r})",
                    413,
                )
            digest = hashlib.sha256()
            for chunk in stream.content():
                digest.update(chunk)
            entries.append(FileEntry(path, member.size, digest.hexdigest()))
        stream.finish()
    if not entries:
        raise ArchiveError("the archive holds no files")
    return Archive(data=data, files=tuple(sorted(entries, key=lambda item: item.path)))


def reserved_in_submission(path: str, is_file: bool) -> str | None:
    """Why ``path`` may not be in a submission, or None. A submission is laid out as
    ``submitted/<student>/<assignment>/`` and collect then writes ``timestamp.txt`` there."""
    top, _, rest = path.partition("/")
    if top == TIMESTAMP_FILE and (rest or not is_file):
        return (
            "the service writes timestamp.txt (the submission time) at the top of the folder, "
            "so it cannot be a folder there"
        )
    if top == FEEDBACK_FOLDER:
        return (
            "feedback/ is where nbgrader puts returned feedback; nbgrader never submits it "
            "(rename your own folder)"
        )
    if top.endswith(STAGING_SUFFIXES):
        return f"names ending {', '.join(STAGING_SUFFIXES)} are the service's staging names"
    return None


class _NameTree:
    """Every path seen so far, so a name cannot be a file and a folder at once (it could not
    be written: collect would fail)."""

    def __init__(self):
        self.files: set[str] = set()
        self.folders: set[str] = set()

    def add(self, path: str, is_file: bool) -> None:
        if is_file and path in self.files:
            raise ArchiveError(f"file {path!r} appears twice in the archive")
        if path in (self.folders if is_file else self.files):
            inside = sorted(seen for seen in self.files if seen.startswith(path + "/"))
            also = f"the folder of {inside[0]!r}" if inside else "a folder"
            raise ArchiveError(
                f"{path!r} is a file and also {also} in the archive; "
                "a name can be a file or a folder, not both"
            )
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in self.files:
                raise ArchiveError(
                    f"{path!r} is inside {folder!r}, which is a file in the archive; "
                    "a name can be a file or a folder, not both"
                )
            self.folders.add(folder)
        (self.files if is_file else self.folders).add(path)


@contextmanager
def _reading() -> Iterator[None]:
    """Turn the stream reader's complaints into ``ArchiveError``s."""
    try:
        yield
    except TarStreamError as error:
        if error.too_big:
            raise ArchiveError(str(error), 413) from None
        raise ArchiveError(f"the upload is not a gzip'd tar archive ({error})") from None


_KINDS = {"link": "a link", "special": "a device or pipe", "sparse": "a sparse file"}


def _not_a_file(member: TarMember) -> ArchiveError:
    kind = _KINDS.get(member.kind, "of a type tar gives no meaning to")
    return ArchiveError(
        f"{member.name!r} in the archive is a link or special file ({kind}); "
        "only regular files and folders can be submitted"
    )


def _too_big(what: str, size: int, limit: int) -> str:
    return f"{what} is {size / MB:.1f} MB; the limit per file is {limit / MB:g} MB"


def extract_archive(data: bytes, destination: Path, limits: Limits = Limits()) -> Archive:
    """Check ``data`` and write its files under ``destination`` (created); return the check."""
    archive = read_archive(data, limits)
    _write_members(data, destination, limits.max_inflated_bytes)
    return archive


def extract_stored_archive(data: bytes, destination: Path) -> None:
    """Write the files of an archive the service checked when it was uploaded (it is kept by
    its checksum, so it cannot have changed): one pass, member paths and the stream's own
    bounds still checked, reading stops at the end-of-archive marker. An archive stored
    before a check existed may still be refused here (``ArchiveError``)."""
    _write_members(data, destination, None)


def _write_members(data: bytes, destination: Path, max_inflated: int | None) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    tree = _NameTree()
    with _reading():
        stream = TarStream(data, max_inflated)
        for member in stream.members():
            if member.kind == "folder":
                continue
            if member.kind != "file":
                raise _not_a_file(member)
            path = check_member_path(member.name)
            tree.add(path, is_file=True)
            target = (root / path).resolve()
            if root not in target.parents:  # belt and braces: read_archive refused these
                raise ArchiveError(f"file {member.name!r} would land outside the folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as file:
                for chunk in stream.content():
                    file.write(chunk)


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
