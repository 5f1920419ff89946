"""Hostile inputs for the offline tool, and a way to run it on them and measure.

Shared by tests/offline/test_bombs.py (which asserts) and bench/offline_bombs.py
(which prints the figures). Each builder writes one file and returns its path.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

from tipline.format.bundle import SubmissionEntry, envelope_member, iter_bundle
from tipline.format.keys import PublicKey, SecretKey
from tipline.format.payload import Metadata
from tipline.format.stream import EnvelopeWriter, seal_bytes

BLOCK = 512
HOUR = "2026-11-26T15:00Z"


def seal_meta(content: bytes, meta_json: bytes, pub: PublicKey) -> bytes:
    """A decryptable envelope whose meta is exactly these bytes (the writer's test seam)."""
    out = io.BytesIO()
    w = EnvelopeWriter(out, [pub])
    w.write(content)
    w.close(Metadata("file"), _meta_json=meta_json)
    return out.getvalue()


def _ustar(name: str, size: int, typeflag: bytes = b"0", magic: bytes = b"ustar\x0000") -> bytearray:
    """A raw tar header block, for shapes tarfile will not write (sparse, huge pax)."""
    h = bytearray(BLOCK)
    h[0:100] = name.encode().ljust(100, b"\0")
    h[100:108] = b"0000600\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"00000000000\0"
    h[156:157] = typeflag
    h[257:265] = magic
    return h


def _checksum(h: bytearray) -> bytes:
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def _member(name: str, data: bytes) -> bytes:
    return _checksum(_ustar(name, len(data))) + data + bytes(-len(data) % BLOCK)


def manifest(entries: list[tuple[str, int]], version: object = 1) -> bytes:
    """A manifest for submissions (id, number of envelopes); version as given."""
    subs = [
        {
            "id": sid,
            "received_hour": HOUR,
            "sealed_by": "server",
            "envelopes": [envelope_member(sid, i) for i in range(n)],
        }
        for sid, n in entries
    ]
    doc = {"format": "tipline-bundle", "version": "VERSION", "created_hour": HOUR, "submissions": subs}
    # The version is spliced in as raw JSON text, so it can be any number literal.
    literal = version if isinstance(version, str) else json.dumps(version)
    return json.dumps(doc).replace('"VERSION"', literal).encode()


def good_bundle(path: Path, items: dict[str, list[bytes]]) -> Path:
    """A bundle as the server writes it: {submission id: [envelope bytes, ...]}."""
    entries = [
        SubmissionEntry(sid, HOUR, "server", tuple(envelope_member(sid, i) for i in range(len(envs))))
        for sid, envs in items.items()
    ]
    members = {envelope_member(sid, i): e for sid, envs in items.items() for i, e in enumerate(envs)}
    with open(path, "wb") as f:
        for piece in iter_bundle(entries, HOUR, lambda m: (io.BytesIO(members[m]), len(members[m]))):
            f.write(piece)
    return path


def gzip_bomb(path: Path, inflated: int = 1 << 30) -> Path:
    """About 1 MB of gzip that inflates to a tar whose first member is a 1 GiB pax header."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        f.write(z.compress(_checksum(_ustar("././@PaxHeader", inflated, b"x"))))
        zeros = bytes(1 << 20)
        for _ in range(inflated >> 20):
            f.write(z.compress(zeros))
        f.write(z.flush())
    return path


def pax_bomb(path: Path, size: int = 300 * 1024 * 1024) -> Path:
    """An uncompressed tar whose first header is a pax extended header of `size` bytes."""
    body = b" comment=" + b"a" * (size - 30) + b"\n"
    n = len(body) + len(b"%d" % len(body))
    n = len(body) + len(b"%d" % n)  # the length counts its own digits
    record = b"%d" % n + body
    with open(path, "wb") as f:
        f.write(_checksum(_ustar("././@PaxHeader", len(record), b"x")))
        f.write(record)
        f.write(bytes(-len(record) % BLOCK))
        f.write(_member("manifest.json", manifest([])))
        f.write(bytes(2 * BLOCK))
    return path


def sparse_bundle(path: Path, envelope: bytes, gnu_magic: bool = True) -> Path:
    """A listed envelope stored as a GNU sparse member whose map points past its data.

    The member stores 512 bytes but its map claims a 1 MiB region: a reader
    that follows the map runs off the end of the file.
    """
    sid = "sparse_0123"
    h = _ustar(envelope_member(sid, 0), 512, b"S", b"ustar  \0" if gnu_magic else b"ustar\x0000")
    h[386:398] = b"%011o\0" % 0  # one sparse region: offset 0 ...
    h[398:410] = b"%011o\0" % (1 << 20)  # ... 1 MiB long
    h[483:495] = b"%011o\0" % (1 << 20)  # the real size
    with open(path, "wb") as f:
        f.write(_member("manifest.json", manifest([(sid, 1)])))
        f.write(_checksum(h) + envelope[:512].ljust(512, b"\0"))
        f.write(bytes(2 * BLOCK))
    return path


def many_members_bundle(path: Path, envelope: bytes, submissions: int = 40_000, each: int = 1) -> Path:
    """submissions * each listed members (40,000 by default), all holding the same envelope.

    One envelope per submission by default: copies within one submission are
    refused as damage, which is not what this input is meant to exercise.
    """
    sids = [f"many_{i:06d}" for i in range(submissions)]
    with open(path, "wb") as f:
        f.write(_member("manifest.json", manifest([(s, each) for s in sids])))
        for s in sids:
            for i in range(each):
                f.write(_member(envelope_member(s, i), envelope))
        f.write(bytes(2 * BLOCK))
    return path


def huge_integer_bundle(path: Path, digits: int = 5000) -> Path:
    with open(path, "wb") as f:
        f.write(_member("manifest.json", manifest([], version="1" * digits)))
        f.write(bytes(2 * BLOCK))
    return path


def stranger_envelope() -> bytes:
    """A small envelope sealed to a key nobody in the tests holds."""
    return seal_bytes(b"not yours", Metadata("message"), [SecretKey.generate().public_key])


def cheap_key(folder: Path, key: SecretKey) -> tuple[Path, Path]:
    """A key file that costs 8 KiB of Argon2id to open, so a peak measures the decryption."""
    pw = "bomb test passphrase"
    (folder / "pw").write_text(pw + "\n")
    (folder / "k.key").write_text(key.to_text(pw.encode(), opslimit=1, memlimit=8192))
    return folder / "k.key", folder / "pw"


@dataclass
class Run:
    code: int
    peak_mb: float
    stdout: str
    stderr: str


# The child reports its own peak (VmHWM) as it exits: wait4's ru_maxrss would
# also count the process it was forked from. A traceback still reports it.
_CHILD = (
    "import sys, re, traceback\n"
    "from tipline.offline.cli import main\n"
    "try:\n"
    "    rc = main(sys.argv[1:])\n"
    "except BaseException:\n"
    "    traceback.print_exc(); rc = 99\n"
    "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
    "print('PEAK_KB', hwm); sys.exit(rc)\n"
)


def decrypt_measured(inp: Path, key: Path, pw: Path, out: Path, timeout: float = 600) -> Run:
    """Run the real tipline-offline decrypt in a child process and report its peak RSS."""
    cmd = [sys.executable, "-c", _CHILD, "decrypt", str(inp), "--key", str(key)]
    cmd += ["--out", str(out), "--passphrase-file", str(pw)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    m = re.search(r"PEAK_KB (\d+)", proc.stdout)
    return Run(proc.returncode, int(m.group(1)) / 1024 if m else float("nan"), proc.stdout, proc.stderr)


__all__ = [
    "Run",
    "cheap_key",
    "decrypt_measured",
    "good_bundle",
    "gzip_bomb",
    "huge_integer_bundle",
    "manifest",
    "many_members_bundle",
    "pax_bomb",
    "sparse_bundle",
    "stranger_envelope",
]
