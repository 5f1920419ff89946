"""The journalist app's own key (DATA_DIR/journalist/totp.key): TOTP secrets sealed at rest.

A copy of accounts.db alone then reveals no TOTP secret. Each secret is
sealed with AES-256-GCM under a key derived (HKDF-SHA256) from the file,
with the journalist's name as associated data, so a sealed secret cannot
be moved to another account. A second derived key names the login
throttle's rows (an HMAC of the name tried), so that table holds no names.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .secretfile import load_or_create

SEAL_LABEL = b"tipline totp seal v1"
THROTTLE_LABEL = b"tipline login throttle v1"
NONCE = 12


class SealError(Exception):
    """A sealed TOTP secret does not open with this installation's key."""


def _derive(master: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=label).derive(master)


def _name_bytes(name: str) -> bytes:
    # A form field can hold anything, lone surrogates included; it must still map to one key.
    return name.encode("utf-8", "surrogatepass")


class AccountKey:
    def __init__(self, master: bytes) -> None:
        self._aead = AESGCM(_derive(master, SEAL_LABEL))
        self._tag_key = _derive(master, THROTTLE_LABEL)

    @classmethod
    def from_file(cls, path: Path) -> AccountKey:
        """Read the key file, making it (32 random bytes, 0600) on first use."""
        return cls(load_or_create(path))

    def seal(self, name: str, secret_b32: str) -> str:
        nonce = os.urandom(NONCE)
        sealed = nonce + self._aead.encrypt(nonce, secret_b32.encode("ascii"), _name_bytes(name))
        return base64.b64encode(sealed).decode("ascii")

    def open(self, name: str, sealed: str) -> str:
        try:
            raw = base64.b64decode(sealed, validate=True)
            return self._aead.decrypt(raw[:NONCE], raw[NONCE:], _name_bytes(name)).decode("ascii")
        except (ValueError, InvalidTag) as e:
            # No name in the message: it is logged, and nothing a request sent may reach a log.
            raise SealError(
                "A journalist's TOTP secret does not open with this installation's totp.key "
                "(a different or damaged key file?). Restore the totp.key that belongs to accounts.db, "
                "or enrol the journalist again: tipline journalist reset-totp NAME"
            ) from e

    def name_tag(self, name: str) -> str:
        """What the throttle keys a name by: the same for a name that exists and one that does not."""
        return hmac.new(self._tag_key, _name_bytes(name), hashlib.sha256).hexdigest()
