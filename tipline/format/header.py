"""Parse and serialize the envelope header. Strict lengths; no cryptography.

The header is read from a stream a field at a time, so a hostile input can
never make the reader allocate more than the largest legal header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from .errors import MalformedHeader, NotAnEnvelope, TooManyRecipients, UnsupportedVersion
from .keys import KEY_ID_BYTES, SEALED_KEY_BYTES

MAGIC = b"TIPLINE"
VERSION = 1
MAX_RECIPIENTS = 32
STREAM_HEADER_BYTES = 24
STANZA_BYTES = KEY_ID_BYTES + SEALED_KEY_BYTES  # 88


@dataclass(frozen=True)
class Stanza:
    """One recipient's copy of the payload key."""

    key_id: bytes
    sealed_key: bytes


@dataclass(frozen=True)
class Header:
    stanzas: tuple[Stanza, ...]
    stream_header: bytes

    def __post_init__(self) -> None:
        if not 1 <= len(self.stanzas) <= MAX_RECIPIENTS:
            raise TooManyRecipients(
                f"An envelope has 1 to {MAX_RECIPIENTS} recipients, not {len(self.stanzas)}."
            )
        for s in self.stanzas:
            if len(s.key_id) != KEY_ID_BYTES or len(s.sealed_key) != SEALED_KEY_BYTES:
                raise MalformedHeader("A recipient stanza has the wrong length.")
        if len(self.stream_header) != STREAM_HEADER_BYTES:
            raise MalformedHeader("The stream header has the wrong length.")

    def to_bytes(self) -> bytes:
        parts = [MAGIC, bytes([VERSION, len(self.stanzas)])]
        parts += [s.key_id + s.sealed_key for s in self.stanzas]
        parts.append(self.stream_header)
        return b"".join(parts)


def _read_exact(src: BinaryIO, n: int) -> bytes:
    data = src.read(n)
    if data is None or len(data) != n:
        raise MalformedHeader("The envelope ends inside its header; it is truncated.")
    return data


def read_header(src: BinaryIO) -> tuple[Header, bytes]:
    """Read a header from the start of src. Returns it with its exact bytes."""
    magic = src.read(len(MAGIC))
    if magic != MAGIC:
        raise NotAnEnvelope("This is not a Tipline envelope (the first bytes are wrong).")
    version, count = _read_exact(src, 2)
    if version != VERSION:
        raise UnsupportedVersion(
            f"This envelope is format version {version}; this program reads version {VERSION}. "
            "Update Tipline to read it."
        )
    if count == 0:
        raise MalformedHeader("The envelope names no recipients.")
    if count > MAX_RECIPIENTS:
        raise TooManyRecipients(f"The envelope names {count} recipients; the format allows {MAX_RECIPIENTS}.")
    body = _read_exact(src, count * STANZA_BYTES)
    stanzas = tuple(
        Stanza(body[i : i + KEY_ID_BYTES], body[i + KEY_ID_BYTES : i + STANZA_BYTES])
        for i in range(0, len(body), STANZA_BYTES)
    )
    stream_header = _read_exact(src, STREAM_HEADER_BYTES)
    header = Header(stanzas, stream_header)
    return header, MAGIC + bytes([version, count]) + body + stream_header
