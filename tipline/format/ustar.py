"""Write and read the strict subset of POSIX tar that bundles are made of (docs/bundle.md).

Python's tarfile also opens compressed input, reads a pax header whole, follows
GNU sparse maps, and on some versions parses pax headers in quadratic time
(CVE-2024-6232). A bundle needs none of that: it is 512-byte ustar headers,
at most a small pax header before a member, and regular files. This reader
accepts exactly that, reads each header once, and never holds more than one
header's worth of the tar in memory. The writer makes exactly that, byte for
byte what tarfile's pax format writes for these members.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .errors import TiplineError

BLOCK = 512
MAX_PAX_BYTES = 64 * 1024  # Tipline's writer puts at most a path and a size there
USTAR_MAGIC = b"ustar\x0000"  # POSIX ustar and pax
GNU_MAGIC = b"ustar  \x00"  # GNU tar's own format: recognised, then refused
REGULAR = (b"0", b"\0")
PAX = b"x"
COMPRESSED = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}
# pax keywords a reader may meet from a standard writer; "path" and "size"
# matter, the rest describe the file and are ignored. Any other keyword
# (GNU.sparse.*, SCHILY.*, linkpath, hdrcharset) is refused.
_PAX_KEYS = {"path", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname", "comment", "charset"}
MAX_OCTAL_SIZE = 8**11 - 1  # what the 12-byte size field holds; above it, a pax "size" record
_OCTAL = re.compile(rb"^ *([0-7]{1,12}) *$")
_RECORD_LENGTH = re.compile(rb"([1-9][0-9]{0,5}) ")  # .match(data, pos) anchors at pos


class TarError(TiplineError):
    """The file is not the plain, uncompressed tar a bundle is."""


@dataclass(frozen=True)
class Member:
    """A regular file in the tar: its name, and where its data lies."""

    name: str
    offset: int
    size: int


def _field(n: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, n)


def _header_block(name: bytes, size: int, flag: bytes, mode: int = 0o600) -> bytes:
    if len(name) > 100:
        raise ValueError("member names in a bundle are at most 100 bytes")
    h = bytearray(BLOCK)
    h[0:100] = name.ljust(100, b"\0")
    h[100:108] = _field(mode, 8)
    h[108:116] = _field(0, 8)  # uid
    h[116:124] = _field(0, 8)  # gid
    h[124:136] = _field(size, 12)
    h[136:148] = _field(0, 12)  # mtime: the epoch; the server keeps no precise times
    h[148:156] = b" " * 8
    h[156:157] = flag
    h[257:265] = USTAR_MAGIC
    h[148:155] = b"%06o\0" % sum(h)
    return bytes(h)


def member_header(name: str, size: int) -> bytes:
    """The header block(s) for one regular file of `size` bytes named `name` (ASCII)."""
    raw = name.encode("ascii")
    if size <= MAX_OCTAL_SIZE:
        return _header_block(raw, size, b"0")
    body = b" size=%d\n" % size
    n = len(body) + len(b"%d" % len(body))
    record = b"%d" % (len(body) + len(b"%d" % n)) + body  # a record's length counts its own digits
    pax = _header_block(b"././@PaxHeader", len(record), PAX, 0) + record + bytes(-len(record) % BLOCK)
    return pax + _header_block(raw, 0, b"0")


def compression(head: bytes) -> str | None:
    """The compression the first bytes of a file announce, if any."""
    for magic, name in COMPRESSED.items():
        if head.startswith(magic):
            return name
    return None


def _octal(field: bytes, what: str) -> int:
    m = _OCTAL.match(field.strip(b" \0") or b"0")
    if not m:
        # Base-256 numbers and other encodings are never written by Tipline.
        raise TarError(f"A tar header has an unreadable {what} field; this is not a Tipline bundle.")
    return int(m.group(1), 8)


def is_header(block: bytes) -> bool:
    """Whether a 512-byte block is a tar header (POSIX or GNU) with a correct checksum."""
    if len(block) != BLOCK or block[257:265] not in (USTAR_MAGIC, GNU_MAGIC):
        return False
    m = _OCTAL.match(block[148:156].strip(b" \0"))
    return bool(m) and int(m.group(1), 8) == sum(block[:148]) + 8 * 32 + sum(block[156:])


def _name(block: bytes) -> bytes:
    name = block[0:100].split(b"\0", 1)[0]
    prefix = block[345:500].split(b"\0", 1)[0]
    return prefix + b"/" + name if prefix else name


def _parse_pax(data: bytes) -> dict[str, bytes]:
    """Parse pax records ("LEN key=value\\n") in one linear pass."""
    out: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        m = _RECORD_LENGTH.match(data, pos)
        if not m:
            raise TarError("A pax header in the tar is malformed.")
        end = pos + int(m.group(1))
        if end > len(data) or data[end - 1 : end] != b"\n":
            raise TarError("A pax header in the tar is malformed.")
        key, eq, value = data[m.end() : end - 1].partition(b"=")
        try:
            k = key.decode("ascii")
        except UnicodeDecodeError:
            raise TarError("A pax header in the tar is malformed.") from None
        if not eq or k not in _PAX_KEYS or k in out:
            raise TarError("A pax header in the tar uses a feature Tipline bundles never use.")
        out[k] = value
        pos = end
    return out


class TarReader:
    """Walk the members of an uncompressed tar, refusing anything a bundle never holds.

    Raises TarError on compressed input, a bad checksum, an oversized pax
    header, or any member that is not a regular file (links, folders,
    devices, GNU sparse or long-name members). A tar cut short simply ends:
    the caller sees fewer members, and a member's data may be short.
    """

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.truncated = False

    def _read(self, n: int) -> bytes:
        data = self.f.read(n)
        return data or b""

    def members(self) -> Iterator[Member]:
        pos = 0
        pax: dict[str, bytes] | None = None
        while True:
            self.f.seek(pos)
            block = self._read(BLOCK)
            if pos == 0 and (kind := compression(block)):
                raise TarError(
                    f"This file is {kind}-compressed; a Tipline bundle is a plain, uncompressed tar file."
                )
            if len(block) < BLOCK:
                self.truncated = True
                return
            if block == bytes(BLOCK):
                return  # the end-of-archive marker
            if not is_header(block):
                raise TarError("The tar structure is damaged (a header's checksum is wrong).")
            if block[257:265] != USTAR_MAGIC:
                raise TarError("This tar is in GNU format; a Tipline bundle is a POSIX (pax) tar.")
            size = _octal(block[124:136], "size")
            flag = block[156:157]
            data_at = pos + BLOCK
            if flag == PAX:
                if pax is not None:
                    raise TarError("The tar has two pax headers in a row; this is not a Tipline bundle.")
                if size > MAX_PAX_BYTES:
                    raise TarError("The tar has an oversized pax header; this is not a Tipline bundle.")
                data = self._read(size)
                if len(data) < size:
                    self.truncated = True
                    return
                pax = _parse_pax(data)
            elif flag in REGULAR:
                raw = pax.get("path", _name(block)) if pax else _name(block)
                if pax and "size" in pax:
                    m = re.fullmatch(rb"[0-9]{1,20}", pax["size"])
                    if not m:
                        raise TarError("A pax header in the tar has an unreadable size.")
                    size = int(pax["size"])
                pax = None
                try:
                    name = raw.decode("utf-8")
                except UnicodeDecodeError:
                    name = ""  # no manifest name can match it; the member is simply unlisted
                yield Member(name, data_at, size)
            else:
                raise TarError(
                    "The tar holds a member that is not a plain file (a link, folder, device "
                    "or sparse file); Tipline bundles hold only plain files."
                )
            pos = data_at + size + (-size % BLOCK)


class MemberFile:
    """A read-only view of one member's data, as a file object for the decryptor."""

    def __init__(self, f: BinaryIO, member: Member) -> None:
        self._f, self._start, self._left = f, member.offset, member.size
        self._pos = member.offset

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        if n <= 0:
            return b""
        self._f.seek(self._pos)
        data = self._f.read(n) or b""
        self._pos += len(data)
        self._left -= len(data)
        if len(data) < n:
            self._left = 0  # the tar ends inside this member
        return data

    def __enter__(self) -> MemberFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._left = 0
