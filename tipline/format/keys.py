"""Recipient keys: identifiers, fingerprints, key files, sealing the payload key.

Text forms are specified in docs/envelope.md ("Keys and key files").
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from dataclasses import dataclass

import nacl.exceptions
import nacl.pwhash.argon2id
from nacl import bindings

from .errors import KeyFileError, UnsealableKey, WrongPassphrase

KEY_BYTES = 32
KEY_ID_BYTES = 8
SEALED_KEY_BYTES = KEY_BYTES + bindings.crypto_box_SEALBYTES  # 80

LABEL_KEY_ID = b"tipline/v1/key-id"
LABEL_FINGERPRINT = b"tipline/v1/fingerprint"
LABEL_CHECKSUM = b"tipline/v1/checksum"

PUBLIC_PREFIX = "tipline-pub1-"
SECRET_PREFIX = "tipline-sec1-"  # noqa: S105 (a file-format prefix, not a password)
SECRET_MAGIC = b"TPLSEC"
SECRET_VERSION = 1

# Keygen cost: libsodium's MODERATE (see docs/envelope.md for why).
KEYGEN_OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
KEYGEN_MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_MODERATE
# What a reader accepts, so a tampered file cannot demand unbounded work.
MAX_OPSLIMIT = 10
MIN_MEMLIMIT = 8 * 1024
MAX_MEMLIMIT = 4 * 1024**3

_SECRET_HEAD = struct.Struct(">6sBIQ16s24s")  # magic, version, ops, mem, salt, nonce
_SECRET_BOX_BYTES = KEY_BYTES + bindings.crypto_secretbox_MACBYTES


def _h(label: bytes, data: bytes) -> bytes:
    return bindings.crypto_generichash_blake2b_salt_personal(label + data, digest_size=32)


@dataclass(frozen=True)
class PublicKey:
    """An X25519 recipient public key."""

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != KEY_BYTES:
            raise KeyFileError("A public key is exactly 32 bytes.")

    @property
    def key_id(self) -> bytes:
        """The 8-byte stanza identifier (not secret, not for humans)."""
        return _h(LABEL_KEY_ID, self.raw)[:KEY_ID_BYTES]

    @property
    def fingerprint(self) -> str:
        """A short string for people to compare over a trusted channel."""
        code = base64.b32encode(_h(LABEL_FINGERPRINT, self.raw)[:10]).decode()
        return " ".join(code[i : i + 4] for i in range(0, 16, 4))

    def to_text(self) -> str:
        """The copy-paste friendly public key file contents."""
        checksum = _h(LABEL_CHECKSUM, self.raw)[:4]
        body = base64.b32encode(self.raw + checksum).decode().rstrip("=").lower()
        return (
            "# Tipline journalist public key. Safe to share.\n"
            f"# Fingerprint: {self.fingerprint}\n"
            f"{PUBLIC_PREFIX}{body}\n"
        )

    @classmethod
    def from_text(cls, text: str) -> PublicKey:
        """Parse a public key file; raises KeyFileError on any defect."""
        lines = [ln.strip() for ln in text.splitlines()]
        keys = [ln for ln in lines if ln and not ln.startswith("#")]
        if len(keys) != 1 or not keys[0].startswith(PUBLIC_PREFIX):
            raise KeyFileError(
                f"This is not a Tipline public key file: expected one line starting with {PUBLIC_PREFIX!r}."
            )
        body = keys[0][len(PUBLIC_PREFIX) :]
        odd = next((ch for ch in body if not ch.isascii()), None)
        if odd is not None:
            # base64 would raise a bare ValueError on it: say what is wrong instead.
            raise KeyFileError(
                f"The public key line holds {odd!r}, which is not part of any key; "
                "it was changed when copied. Copy the .pub file again."
            )
        body = body.upper()
        if len(body) != 58:
            raise KeyFileError("The public key line has the wrong length; was it cut when copied?")
        try:
            blob = base64.b32decode(body + "======", casefold=False)
        except binascii.Error:
            raise KeyFileError("The public key line has characters that do not belong in it.") from None
        raw, checksum = blob[:KEY_BYTES], blob[KEY_BYTES:]
        if _h(LABEL_CHECKSUM, raw)[:4] != checksum:
            raise KeyFileError("The public key's checksum does not match; it was changed or mistyped.")
        return cls(raw)


@dataclass(frozen=True)
class SecretKey:
    """An X25519 secret key with its public half. Lives on the offline machine only."""

    raw: bytes = b""

    def __post_init__(self) -> None:
        if len(self.raw) != KEY_BYTES:
            raise KeyFileError("A secret key is exactly 32 bytes.")
        # Derived once: every stanza match and every open needs it.
        object.__setattr__(self, "_public", PublicKey(bindings.crypto_scalarmult_base(self.raw)))

    def __repr__(self) -> str:  # never print key material by accident
        return f"SecretKey(public fingerprint {self.public_key.fingerprint})"

    @classmethod
    def generate(cls) -> SecretKey:
        return cls(os.urandom(KEY_BYTES))

    @property
    def public_key(self) -> PublicKey:
        return self._public  # type: ignore[attr-defined]

    def to_text(
        self,
        passphrase: bytes,
        *,
        opslimit: int = KEYGEN_OPSLIMIT,
        memlimit: int = KEYGEN_MEMLIMIT,
    ) -> str:
        """The secret key file contents, locked with the passphrase."""
        salt = os.urandom(nacl.pwhash.argon2id.SALTBYTES)
        nonce = os.urandom(bindings.crypto_secretbox_NONCEBYTES)
        k = nacl.pwhash.argon2id.kdf(32, passphrase, salt, opslimit=opslimit, memlimit=memlimit)
        box = bindings.crypto_secretbox(self.raw, nonce, k)
        head = _SECRET_HEAD.pack(SECRET_MAGIC, SECRET_VERSION, opslimit, memlimit, salt, nonce)
        body = base64.urlsafe_b64encode(head + box).decode().rstrip("=")
        return (
            "# Tipline journalist secret key. Keep it on the offline machine only.\n"
            f"# Public key fingerprint: {self.public_key.fingerprint}\n"
            f"{SECRET_PREFIX}{body}\n"
        )

    @classmethod
    def from_text(cls, text: str, passphrase: bytes) -> SecretKey:
        """Unlock a secret key file; WrongPassphrase if the passphrase fails."""
        keys = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
        if len(keys) != 1 or not keys[0].startswith(SECRET_PREFIX):
            raise KeyFileError(
                f"This is not a Tipline secret key file: expected one line starting with {SECRET_PREFIX!r}."
            )
        body = keys[0][len(SECRET_PREFIX) :]
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise KeyFileError("The secret key file is damaged (bad characters).") from None
        if len(blob) != _SECRET_HEAD.size + _SECRET_BOX_BYTES:
            raise KeyFileError("The secret key file is damaged (wrong length).")
        magic, version, ops, mem, salt, nonce = _SECRET_HEAD.unpack_from(blob)
        if magic != SECRET_MAGIC:
            raise KeyFileError("The secret key file is damaged (bad magic).")
        if version != SECRET_VERSION:
            raise KeyFileError(f"The secret key file is version {version}; this tool reads version 1.")
        if not (1 <= ops <= MAX_OPSLIMIT and MIN_MEMLIMIT <= mem <= MAX_MEMLIMIT):
            raise KeyFileError(
                "The secret key file asks for out-of-range passphrase work; it was tampered with."
            )
        k = nacl.pwhash.argon2id.kdf(32, passphrase, salt, opslimit=ops, memlimit=mem)
        try:
            raw = bindings.crypto_secretbox_open(blob[_SECRET_HEAD.size :], nonce, k)
        except nacl.exceptions.CryptoError:
            raise WrongPassphrase(
                "The passphrase does not open this secret key file (or the file is damaged)."
            ) from None
        return cls(raw)


UNSEALABLE = "This public key is a point of small order, which nothing can be sealed to."


def check_sealable(raw: bytes) -> None:
    """Raise UnsealableKey for a key of small order (all-zero, and the few others): libsodium
    refuses to seal to one, so it must be refused where it arrives, not when someone replies.

    Any scalar works as the probe: X25519 clamps it to a multiple of 8, which sends
    every point of small order to the identity, whose shared secret libsodium rejects.
    """
    try:
        bindings.crypto_scalarmult(b"\x01" * KEY_BYTES, raw)
    except nacl.exceptions.RuntimeError:
        raise UnsealableKey(UNSEALABLE) from None


def seal_key(payload_key: bytes, recipient: PublicKey) -> bytes:
    """Seal the payload key to one recipient (crypto_box_seal)."""
    try:
        return bindings.crypto_box_seal(payload_key, recipient.raw)
    except nacl.exceptions.RuntimeError:  # libsodium's answer for a key of small order
        raise UnsealableKey(UNSEALABLE) from None


def open_sealed_key(sealed: bytes, secret: SecretKey) -> bytes | None:
    """Open one stanza's sealed key, or None if it was not sealed to this key."""
    try:
        key = bindings.crypto_box_seal_open(sealed, secret.public_key.raw, secret.raw)
    except nacl.exceptions.CryptoError:
        return None
    return key if len(key) == KEY_BYTES else None
