"""Reading a gzip'd tar archive as a stream, with every cost bounded before it is paid.

Python's ``tarfile`` reads a pax or GNU long-name header's content whole into memory
whatever size its header claims, follows chains of such headers by recursion, and builds
sparse-file maps without a bound; ``gzip`` inflates whatever an upload holds. An archive of a
few hundred KiB can so cost gigabytes and seconds. ``TarStream`` reads one 512-byte block at
a time from a gzip stream whose inflated bytes are counted and capped, refuses an extension
header over ``MAX_EXTENSION_BYTES`` from its size field alone (before reading it), and yields
one ``TarMember`` per file, folder or other entry; the caller reads a file's content in
chunks, or leaves it to be skipped.

It reads what honest tools write: ustar (with its name prefix), GNU (``L`` and ``K`` long
names), POSIX pax (``x`` headers with ``path`` and ``size`` records, ``g`` global headers),
gzip'd as one member or several. It is strict where a lenient reader would have to guess:
a bad checksum, a number that is not octal, a folder with content, two extension headers of
one kind for the same entry, or a pax record that does not parse is a ``TarStreamError``.

It decides nothing about names or sizes and writes nothing: ``coursehub.exchange.archive``
does.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
# Honest extension headers hold one path (a few KiB at most) and a few times; 64 KiB is
# generous for them and a small, fixed cost for anything else.
MAX_EXTENSION_BYTES = 64 * 1024
# An entry has at most one pax header, one long name and one long link name, plus the odd
# global header; more in a row is a chain built to cost time.
MAX_EXTENSIONS_IN_A_ROW = 8
INPUT_CHUNK = 64 * 1024  # compressed bytes fed to zlib at a time (keeps its tail small)
OUTPUT_CHUNK = 256 * 1024  # inflated bytes taken from zlib at a time
CONTENT_CHUNK = 256 * 1024  # file content handed to the caller at a time

POSIX_MAGIC = b"ustar\x0000"
FILE_TYPES = (b"0", b"\x00", b"7")  # regular, old regular, contiguous (a regular file)
FOLDER_TYPE = b"5"
LINK_TYPES = (b"1", b"2")
SPECIAL_TYPES = (b"3", b"4", b"6")  # character and block devices, FIFOs
PAX_TYPES = (b"x", b"X")  # X: Solaris' name for the same header
GLOBAL_TYPE = b"g"
LONG_NAME_TYPE = b"L"
LONG_LINK_TYPE = b"K"
SPARSE_TYPE = b"S"
EXTENSION_TYPES = (*PAX_TYPES, GLOBAL_TYPE, LONG_NAME_TYPE, LONG_LINK_TYPE)
_NOT_ZERO = re.compile(rb"[^\x00]")
_GZIP_MAGIC = b"\x1f\x8b"


class TarStreamError(ValueError):
    """The archive is malformed, or (``too_big``) passes one of the reader's bounds."""

    def __init__(self, message: str, too_big: bool = False):
        super().__init__(message)
        self.too_big = too_big


@dataclass(frozen=True)
class TarMember:
    """One entry. ``kind`` is ``file``, ``folder``, ``link``, ``special`` or ``sparse``;
    ``headers`` counts the header blocks it took, extension headers included."""

    name: str
    kind: str
    size: int
    headers: int


class BoundedGunzip:
    """The inflated bytes of a gzip stream (one or more gzip members, zero padding between
    them allowed), read in order. Raises ``TarStreamError(too_big=True)`` as soon as more
    than ``max_bytes`` have been read (``None``: no bound); zlib works at most
    ``OUTPUT_CHUNK`` bytes ahead of the reader."""

    def __init__(self, data: bytes, max_bytes: int | None):
        self._data = memoryview(data)
        self._position = 0
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._pending = bytearray()
        self._finished = False
        self.max_bytes = max_bytes
        self.inflated = 0

    def read(self, size: int) -> bytes:
        """``size`` bytes, or fewer only where the stream ends."""
        while len(self._pending) < size and not self._finished:
            self._inflate_some()
        piece = bytes(self._pending[:size])
        del self._pending[:size]
        self._count(len(piece))
        return piece

    def read_to_end(self) -> None:
        """Inflate (and count) the rest, so a stream that never ends is found out."""
        while True:
            self._count(len(self._pending))
            self._pending.clear()
            if self._finished:
                return
            self._inflate_some()

    def _count(self, size: int) -> None:
        self.inflated += size
        if self.max_bytes is not None and self.inflated > self.max_bytes:
            raise TarStreamError(
                f"the archive inflates to more than {self.max_bytes / 2**20:.0f} MB", too_big=True
            )

    def _inflate_some(self) -> None:
        if self._inflater.eof:
            self._next_gzip_member()
            return
        if self._inflater.unconsumed_tail:
            piece = self._inflater.unconsumed_tail
        elif self._position < len(self._data):
            piece = self._data[self._position : self._position + INPUT_CHUNK]
            self._position += len(piece)
        else:
            raise TarStreamError("the gzip stream ends early (the upload is cut short)")
        try:
            out = self._inflater.decompress(piece, OUTPUT_CHUNK)
        except zlib.error as error:
            raise TarStreamError(f"the gzip stream is damaged ({error})") from None
        self._pending += out

    def _next_gzip_member(self) -> None:
        # What zlib did not use is the end of the last piece fed to it: step back over it.
        self._position -= len(self._inflater.unused_data)
        padding_end = _NOT_ZERO.search(self._data, self._position)
        if padding_end is None:
            self._finished = True
            return
        self._position = padding_end.start()
        if self._data[self._position : self._position + 2] != _GZIP_MAGIC:
            raise TarStreamError("the upload has bytes after its gzip stream that are not gzip")
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)


class TarStream:
    """``members()`` yields each entry; while the caller holds one, ``content()`` yields that
    file's bytes. Content the caller does not read is skipped (still inflated and counted).
    ``finish()`` reads what follows the end-of-archive marker, so the whole upload counts
    against ``max_inflated``."""

    def __init__(self, data: bytes, max_inflated: int | None):
        self._gunzip = BoundedGunzip(data, max_inflated)
        self._content_left = 0
        self._padding_left = 0
        self._entries = 0  # header blocks read, for messages

    def members(self) -> Iterator[TarMember]:
        extensions = _Extensions()
        while True:
            block = self._gunzip.read(BLOCK)
            if not block:
                break  # the end without end-of-archive blocks: tolerated, as tar does
            if len(block) < BLOCK:
                raise TarStreamError("the archive ends inside a header block")
            if block == ZERO_BLOCK:
                break
            self._entries += 1
            header = _Header.parse(block, self._entries)
            if header.type in EXTENSION_TYPES:
                self._read_extension(header, extensions)
                continue
            member = extensions.apply(header)
            extensions = _Extensions()
            if member.kind == "folder" and member.size:
                raise TarStreamError(f"the folder {member.name!r} claims {member.size} bytes")
            # Links, devices and folders carry no content; files and vendor types do.
            self._content_left = member.size if member.kind in ("file", "other") else 0
            self._padding_left = -self._content_left % BLOCK
            yield member
            if member.kind == "sparse":  # its layout is GNU's own; nothing follows for us
                raise TarStreamError(f"{member.name!r} is a sparse file, which is not read")
            self._skip_rest_of_member()
        if extensions.count:
            raise TarStreamError("the archive ends right after an extended header")

    def content(self) -> Iterator[bytes]:
        while self._content_left:
            chunk = self._gunzip.read(min(CONTENT_CHUNK, self._content_left))
            if not chunk:
                raise TarStreamError("the archive ends inside a file's content")
            self._content_left -= len(chunk)
            yield chunk

    def finish(self) -> None:
        self._gunzip.read_to_end()

    def _skip_rest_of_member(self) -> None:
        for _chunk in self.content():
            pass
        if self._padding_left and len(self._gunzip.read(self._padding_left)) < self._padding_left:
            raise TarStreamError("the archive ends inside a file's content")
        self._padding_left = 0

    def _read_extension(self, header: _Header, extensions: _Extensions) -> None:
        what = "a long-name" if header.type in (LONG_NAME_TYPE, LONG_LINK_TYPE) else "an extended"
        if header.size > MAX_EXTENSION_BYTES:
            raise TarStreamError(
                f"entry {header.entry} is {what} header of {header.size} bytes; "
                f"the limit is {MAX_EXTENSION_BYTES // 1024} KiB",
                too_big=True,
            )
        if extensions.count >= MAX_EXTENSIONS_IN_A_ROW:
            raise TarStreamError(
                f"entry {header.entry}: more than {MAX_EXTENSIONS_IN_A_ROW} extended headers "
                "in a row"
            )
        payload = self._gunzip.read(header.size + (-header.size % BLOCK))[: header.size]
        if len(payload) < header.size:
            raise TarStreamError(f"the archive ends inside entry {header.entry}'s header")
        extensions.add(header, payload)


@dataclass(frozen=True)
class _Header:
    entry: int
    name: str
    type: bytes
    size: int

    @classmethod
    def parse(cls, block: bytes, entry: int) -> _Header:
        stored = _number(block[148:156], entry, "checksum")
        unsigned = sum(block[:148]) + sum(block[156:]) + 8 * ord(" ")
        signed = unsigned - 256 * sum(1 for byte in block[:148] + block[156:] if byte > 127)
        if stored not in (unsigned, signed):
            raise TarStreamError(f"entry {entry}'s header has a wrong checksum")
        name = _cstring(block[0:100])
        if block[257:265] == POSIX_MAGIC and block[345] != 0:
            name = _cstring(block[345:500]) + b"/" + name
        kind = block[156:157]
        if kind == b"\x00" and name.endswith(b"/"):
            kind = FOLDER_TYPE  # old tars mark folders by the slash alone
        return cls(entry, _text(name, entry), kind, _number(block[124:136], entry, "size"))


class _Extensions:
    """What the extension headers before one entry say about it."""

    def __init__(self):
        self.count = 0
        self.path: str | None = None
        self.size: int | None = None
        self.sparse = False
        self._seen: set[bytes] = set()

    def add(self, header: _Header, payload: bytes) -> None:
        self.count += 1
        kind = PAX_TYPES[0] if header.type in PAX_TYPES else header.type
        if kind != GLOBAL_TYPE and kind in self._seen:
            raise TarStreamError(f"entry {header.entry} repeats an extended header of one entry")
        self._seen.add(kind)
        if kind == LONG_NAME_TYPE:
            self._set_path(_text(_cstring(payload), header.entry), header.entry)
        elif kind in (PAX_TYPES[0], GLOBAL_TYPE):
            records = _pax_records(payload, header.entry)
            if kind == GLOBAL_TYPE:
                if {"path", "size"} & records.keys() or _sparse(records):
                    raise TarStreamError(
                        f"entry {header.entry} is a global header that sets a name or size "
                        "for every entry"
                    )
                return
            if "path" in records:
                self._set_path(_text(records["path"], header.entry), header.entry)
            if "size" in records:
                self.size = _decimal(records["size"], header.entry)
            self.sparse = _sparse(records)

    def _set_path(self, path: str, entry: int) -> None:
        if self.path is not None:  # a long name and a pax path: which one wins is a guess
            raise TarStreamError(f"entry {entry} gives an entry a second long name")
        self.path = path

    def apply(self, header: _Header) -> TarMember:
        name = self.path if self.path is not None else header.name
        size = self.size if self.size is not None else header.size
        if header.type in FILE_TYPES:
            kind = "sparse" if self.sparse else "file"
        elif header.type == FOLDER_TYPE:
            kind, name = "folder", name.rstrip("/") or name
        elif header.type in LINK_TYPES:
            kind = "link"
        elif header.type in SPECIAL_TYPES:
            kind = "special"
        elif header.type == SPARSE_TYPE:
            kind = "sparse"
        else:
            kind = "other"  # a vendor type: its content is skipped by its size
        return TarMember(name, kind, size, self.count + 1)


def _pax_records(payload: bytes, entry: int) -> dict[str, bytes]:
    """``"<length> <key>=<value>\\n"`` records; the length counts the whole record."""
    records: dict[str, bytes] = {}
    position = 0
    while position < len(payload):
        space = payload.find(b" ", position, position + 21)
        digits = payload[position:space] if space > position else b""
        end = position + int(digits) if digits.isdigit() else -1
        if end <= space + 2 or end > len(payload) or payload[end - 1 : end] != b"\n":
            raise TarStreamError(f"entry {entry} is an extended header that does not parse")
        key, equals, value = payload[space + 1 : end - 1].partition(b"=")
        if not equals or not key:
            raise TarStreamError(f"entry {entry} is an extended header that does not parse")
        records[_text(key, entry)] = value
        position = end
    return records


def _sparse(records: dict[str, bytes]) -> bool:
    return any(key.startswith("GNU.sparse.") for key in records)


def _cstring(field: bytes) -> bytes:
    return field.split(b"\x00", 1)[0]


def _text(raw: bytes, entry: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TarStreamError(f"entry {entry} has a name that is not UTF-8") from None


def _number(field: bytes, entry: int, what: str) -> int:
    """A header number: octal text (NUL- or space-terminated), or GNU's base-256."""
    if field[0] == 0x80:
        return int.from_bytes(field[1:], "big")
    digits = _cstring(field).strip(b" ")
    if field[0] == 0xFF or (digits and not all(0x30 <= byte <= 0x37 for byte in digits)):
        raise TarStreamError(f"entry {entry}'s {what} is not a number tar knows")
    return int(digits, 8) if digits else 0


def _decimal(raw: bytes, entry: int) -> int:
    if not raw.isdigit():
        raise TarStreamError(f"entry {entry} gives a size that is not a whole number")
    return int(raw)
