"""The backup file (docs/backup.md): a strict ustar of sorted members, a manifest last, optionally sealed.

The tar is the bundle's own subset (tipline/format/ustar.py): regular files
only, every time the epoch, uid/gid 0, no user or group names. The manifest
names every other member with its size and SHA-256, so a cut or damaged file
is refused before anything is written. With a passphrase the whole tar is
sealed with libsodium's documented file construction: Argon2id (pwhash) makes
the key, secretstream XChaCha20-Poly1305 seals 64 KiB chunks, the last one
tagged FINAL, the file's own header bound as additional data.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from nacl import bindings, pwhash, utils
from nacl.exceptions import CryptoError

from tipline.format.ustar import BLOCK, MemberFile, TarError, TarReader, member_header

FORMAT = "tipline-backup"
VERSION = 1
MANIFEST = "manifest.json"
SEALED_MAGIC = b"TIPLINE-BACKUP-SEALED\n"
SEALED_VERSION = 1
CHUNK = 64 * 1024
# Argon2id at libsodium's "moderate" cost (256 MiB, 3 passes): a backup is sealed once a night.
OPSLIMIT = pwhash.argon2id.OPSLIMIT_MODERATE
MEMLIMIT = pwhash.argon2id.MEMLIMIT_MODERATE
_HEADER = struct.Struct(">B Q Q 16s")  # version, opslimit, memlimit, salt
# What a member may be called: data/ (the data folder's files), db/ (the database copies).
NAME = re.compile(r"^(data/[A-Za-z0-9._/-]+|db/(submissions|accounts)\.(sqlite3|sql))$")


class BackupFormatError(Exception):
    """The file is not a whole, untouched Tipline backup this version can read; the message says which."""


@dataclass(frozen=True)
class Manifest:
    """What the backup says of itself: who made it, from which schema, and every member's digest."""

    tipline: str
    databases: dict[str, str]  # "submissions" and "accounts" (if made yet): "sqlite" or "postgresql"
    schema: dict[str, str | None]  # each database's Alembic revision (None: before Alembic)
    hour: str
    members: dict[str, dict[str, int | str]]

    def to_bytes(self) -> bytes:
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "tipline": self.tipline,
            "databases": self.databases,
            "schema": self.schema,
            "created_hour": self.hour,
            "members": dict(sorted(self.members.items())),
        }
        return json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        try:
            doc = json.loads(raw)
            if doc.get("format") != FORMAT:
                raise BackupFormatError("This is not a Tipline backup (its manifest names another format).")
            if doc.get("version") != VERSION:
                raise BackupFormatError(
                    f"This backup is in format version {doc.get('version')!r}; this Tipline reads version "
                    f"{VERSION} only. Restore it with the Tipline that made it ({doc.get('tipline')})."
                )
            return cls(doc["tipline"], doc["databases"], doc["schema"], doc["created_hour"], doc["members"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BackupFormatError(
                "The backup's manifest is damaged; this file cannot be restored."
            ) from None


class TarWriter:
    """Write members in sorted order, hashing each, then the manifest as the last member."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.members: dict[str, dict[str, int | str]] = {}
        self._last = ""

    def add(self, name: str, chunks: Iterator[bytes], size: int) -> None:
        if not NAME.match(name) or ".." in name.split("/") or name <= self._last:
            raise ValueError(f"member {name!r} is not a sorted, well-formed backup name")
        self._last = name
        self.f.write(member_header(name, size))
        digest, n = hashlib.sha256(), 0
        for chunk in chunks:
            digest.update(chunk)
            n += len(chunk)
            self.f.write(chunk)
        if n != size:
            raise OSError(f"{name} changed size while it was copied")
        self.f.write(bytes(-size % BLOCK))
        self.members[name] = {"size": size, "sha256": digest.hexdigest()}

    def finish(self, manifest: Manifest) -> None:
        raw = manifest.to_bytes()
        self.f.write(member_header(MANIFEST, len(raw)) + raw + bytes(-len(raw) % BLOCK))
        self.f.write(bytes(2 * BLOCK))  # the end-of-archive marker


def read_backup(f: BinaryIO) -> tuple[Manifest, dict[str, MemberFile]]:
    """Check the whole tar against its manifest: the manifest and each member. Raises BackupFormatError."""
    head = f.read(len(SEALED_MAGIC))
    f.seek(0)
    if head == SEALED_MAGIC:
        raise BackupFormatError("This backup is sealed with a passphrase: pass --passphrase-file FILE.")
    reader = TarReader(f)
    try:
        members = list(reader.members())
    except TarError:
        raise BackupFormatError("This is not a Tipline backup (not the plain tar a backup is).") from None
    if not members or members[-1].name != MANIFEST or reader.truncated:
        raise BackupFormatError("This backup is incomplete (cut short, or not a Tipline backup).")
    manifest = Manifest.from_bytes(MemberFile(f, members[-1]).read())
    data = members[:-1]
    names = [m.name for m in data]
    if names != sorted(set(names)) or set(names) != set(manifest.members):
        raise BackupFormatError("This backup's members do not match its manifest: it was altered.")
    for m in data:
        want = manifest.members[m.name]
        if not NAME.match(m.name) or ".." in m.name.split("/") or m.size != want.get("size"):
            raise BackupFormatError(f"The member {m.name} of this backup is damaged or cut short.")
        digest, reader_ = hashlib.sha256(), MemberFile(f, m)
        while chunk := reader_.read(CHUNK):
            digest.update(chunk)
        if digest.hexdigest() != want.get("sha256"):
            raise BackupFormatError(f"The member {m.name} of this backup is damaged (its digest differs).")
    return manifest, {m.name: m for m in data}  # type: ignore[misc]


class Sealer:
    """Seal what is written to `out` as it comes: header, then secretstream chunks, the last tagged FINAL.

    The tar is never on a disk in the clear, not even in a temporary file."""

    def __init__(self, out: BinaryIO, passphrase: bytes) -> None:
        salt = utils.random(pwhash.argon2id.SALTBYTES)
        self._ad: bytes | None = SEALED_MAGIC + _HEADER.pack(SEALED_VERSION, OPSLIMIT, MEMLIMIT, salt)
        key = pwhash.argon2id.kdf(32, passphrase, salt, opslimit=OPSLIMIT, memlimit=MEMLIMIT)
        self._state = bindings.crypto_secretstream_xchacha20poly1305_state()
        self._out = out
        self._buf = bytearray()
        out.write(self._ad + bindings.crypto_secretstream_xchacha20poly1305_init_push(self._state, key))

    def _push(self, chunk: bytes, tag: int) -> None:
        self._out.write(
            bindings.crypto_secretstream_xchacha20poly1305_push(self._state, chunk, self._ad, tag)
        )
        self._ad = None  # only the first chunk carries the header as additional data

    def write(self, data: bytes) -> int:
        self._buf += data
        while len(self._buf) > CHUNK:  # more than a chunk: this one is not the last
            self._push(bytes(self._buf[:CHUNK]), bindings.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
            del self._buf[:CHUNK]
        return len(data)

    def finish(self) -> None:
        self._push(bytes(self._buf), bindings.crypto_secretstream_xchacha20poly1305_TAG_FINAL)
        self._buf.clear()


def unseal(sealed: BinaryIO, out: BinaryIO, passphrase: bytes) -> None:
    """Open a sealed backup into `out`; a wrong passphrase, a cut or a changed byte: BackupFormatError."""
    header = sealed.read(len(SEALED_MAGIC) + _HEADER.size)
    if not header.startswith(SEALED_MAGIC):
        raise BackupFormatError("This backup is not sealed with a passphrase: leave out --passphrase-file.")
    if len(header) < len(SEALED_MAGIC) + _HEADER.size:
        raise BackupFormatError("This backup is cut short; it cannot be restored.")
    version, ops, mem, salt = _HEADER.unpack(header[len(SEALED_MAGIC) :])
    if version != SEALED_VERSION:
        raise BackupFormatError(f"This sealed backup is in version {version}; this Tipline reads version 1.")
    if ops > 16 * OPSLIMIT or mem > 4 * MEMLIMIT:
        raise BackupFormatError("This sealed backup asks for an unreasonable key derivation cost; refused.")
    key = pwhash.argon2id.kdf(32, passphrase, salt, opslimit=ops, memlimit=mem)
    state = bindings.crypto_secretstream_xchacha20poly1305_state()
    stream_header = sealed.read(bindings.crypto_secretstream_xchacha20poly1305_HEADERBYTES)
    bad = "This backup cannot be opened: the passphrase is wrong, or the file is damaged or cut short."
    try:
        bindings.crypto_secretstream_xchacha20poly1305_init_pull(state, stream_header, key)
        ad: bytes | None = header
        while True:
            block = sealed.read(CHUNK + bindings.crypto_secretstream_xchacha20poly1305_ABYTES)
            if not block:
                raise BackupFormatError(bad)  # the stream ended without its FINAL chunk
            chunk, tag = bindings.crypto_secretstream_xchacha20poly1305_pull(state, block, ad)
            out.write(chunk)
            ad = None
            if tag == bindings.crypto_secretstream_xchacha20poly1305_TAG_FINAL:
                break
    except (CryptoError, ValueError, TypeError):
        raise BackupFormatError(bad) from None
    if sealed.read(1):
        raise BackupFormatError("This backup has bytes after its end: it was altered.")
