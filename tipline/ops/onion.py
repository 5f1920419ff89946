"""Tor onion-service client authorization keys for the journalist service (no Flask here).

A v3 onion service with client authorization publishes its descriptor
encrypted to x25519 keys: only a Tor client holding one of the private keys
can even find the service. Tor's file formats (tor(1), "CLIENT
AUTHORIZATION"):

- server side, one file per client in HiddenServiceDir/authorized_clients/,
  named NAME.auth:      descriptor:x25519:<base32 public key>
- client side, in the client's ClientOnionAuthDir, named NAME.auth_private:
  <56-character onion address, no .onion>:descriptor:x25519:<base32 private key>

Keys are 32 raw bytes, base32 (RFC 4648) upper case without padding: 52
characters. The private key is the raw X25519 scalar, as Tor (and
`openssl genpkey -algorithm x25519`) keeps it; clamping happens when it is used.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import nacl.public

ONION_LABEL = re.compile(r"^[a-z2-7]{56}$")
CLIENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
AUTH_LINE = re.compile(r"^descriptor:x25519:([A-Z2-7]{52})$")
PLACEHOLDER = "<JOURNALIST-ONION-ADDRESS>"
DEFAULT_HS_DIR = Path("/var/lib/tor/tipline-journalist")


class OnionError(Exception):
    """A name, address or file is not usable; the message says what to do."""


def b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def onion_label(address: str) -> str:
    """'abc...xyz.onion' or 'abc...xyz' -> 'abc...xyz', after checking it is a valid v3 address."""
    label = address.strip().lower().removesuffix(".onion")
    if not ONION_LABEL.match(label):
        raise OnionError(f"{address!r} is not a v3 onion address (56 letters and digits 2-7, then .onion).")
    raw = base64.b32decode(label.upper())
    pubkey, checksum, version = raw[:32], raw[32:34], raw[34:]
    # rend-spec-v3 6: CHECKSUM = SHA3-256(".onion checksum" | PUBKEY | VERSION)[:2], VERSION = 3.
    if version != b"\x03" or hashlib.sha3_256(b".onion checksum" + pubkey + version).digest()[:2] != checksum:
        raise OnionError(f"{address!r} has a bad checksum or version: check it for typing mistakes.")
    return label


def onion_from_hs_dir(hs_dir: Path) -> str | None:
    """The address in HS_DIR/hostname, or None if it cannot be read (tor not started yet, or no access)."""
    try:
        return onion_label((hs_dir / "hostname").read_text("ascii"))
    except (OSError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class ClientAuth:
    name: str
    public: bytes
    private: bytes
    onion: str | None = None  # without .onion

    @classmethod
    def generate(cls, name: str, onion: str | None = None) -> ClientAuth:
        if not CLIENT_NAME.match(name):
            raise OnionError("A client name is 1-64 letters, digits, dots, dashes or underscores.")
        key = nacl.public.PrivateKey.generate()
        return cls(name, bytes(key.public_key), bytes(key), onion)

    @property
    def server_line(self) -> str:
        """The contents of authorized_clients/NAME.auth on the server."""
        return f"descriptor:x25519:{b32(self.public)}"

    @property
    def private_b32(self) -> str:
        """What Tor Browser asks for when it opens the journalist address."""
        return b32(self.private)

    @property
    def client_line(self) -> str:
        """The contents of NAME.auth_private in the journalist's ClientOnionAuthDir."""
        return f"{self.onion or PLACEHOLDER}:descriptor:x25519:{self.private_b32}"

    def write(self, out: Path) -> tuple[Path, Path]:
        """Write NAME.auth and NAME.auth_private into OUT (mode 0600, never overwriting)."""
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        paths = (out / f"{self.name}.auth", out / f"{self.name}.auth_private")
        for p in paths:
            if p.exists():
                raise OnionError(f"{p} already exists; remove it or choose another --out.")
        for p, line in zip(paths, (self.server_line, self.client_line), strict=True):
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(line + "\n")
        return paths
