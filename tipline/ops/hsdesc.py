"""Read a v3 onion service descriptor, as tor serves it, to see whether it needs client authorization.

Tor's spec (rend-spec-v3 2.5, "HS-DESC-ENCRYPTION-KEYS"; tor's hs_descriptor.c):
the descriptor's "superencrypted" blob (layer 1) is readable by anyone who
knows the onion address. Inside it, the "encrypted" blob (layer 2, the
introduction points, without which nobody can connect) is encrypted with

    SECRET_DATA = blinded-public-key                      (no client authorization)
    SECRET_DATA = blinded-public-key | descriptor_cookie  (client authorization)

and the descriptor_cookie is given to each authorized client in an
"auth-client" line, encrypted to that client's x25519 key. So: if layer 2
opens without a cookie, anyone with the address can reach the service; if it
opens only with the cookie that a client key unlocks, tor enforces client
authorization and that key is among those tor has loaded. Fake auth-client
lines pad the list either way, so only the decryption tells.

For both layers: keys = SHAKE-256(SECRET_DATA | subcredential |
INT_8(revision-counter) | salt | label), split 32 (AES-256-CTR key), 16
(IV), 32 (MAC key); MAC = SHA3-256(INT_8(32) | MAC key | INT_8(16) | salt |
ciphertext). subcredential = SHA3-256("subcredential" | SHA3-256("credential"
| identity key) | blinded key); the identity key is in the onion address and
the blinded key in the descriptor-signing-key-cert (ed25519 cert, extension 4).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from nacl.bindings import crypto_scalarmult

LAYER1 = b"hsdir-superencrypted-data"
LAYER2 = b"hsdir-encrypted-data"
CERT_EXT_SIGNED_WITH_KEY = 4


class DescriptorError(Exception):
    """The descriptor cannot be read as this onion address's v3 descriptor."""


def _block(text: str, keyword: str, kind: str) -> bytes:
    m = re.search(rf"^{keyword}\n-----BEGIN {kind}-----\n(.*?)\n-----END {kind}-----", text, re.M | re.S)
    if not m:
        raise DescriptorError(f"no {keyword} {kind} in the descriptor")
    try:
        return base64.b64decode("".join(m.group(1).split()), validate=True)
    except binascii.Error:
        raise DescriptorError(f"the {keyword} block is not base64") from None


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise DescriptorError(f"{text[:20]!r} is not base64") from None


def _blinded_key(cert: bytes) -> bytes:
    """The signing key of an ed25519 cert (cert-spec 2.1): its signed-with-ed25519-key extension."""
    if len(cert) < 40 or cert[0] != 1:
        raise DescriptorError("the descriptor signing key certificate is malformed")
    pos, n_ext = 40, cert[39]
    for _ in range(n_ext):
        if pos + 4 > len(cert):
            break
        length, ext_type = struct.unpack(">HB", cert[pos : pos + 3])
        data = cert[pos + 4 : pos + 4 + length]
        if ext_type == CERT_EXT_SIGNED_WITH_KEY and len(data) == 32:
            return data
        pos += 4 + length
    raise DescriptorError("the descriptor signing key certificate names no blinded key")


def _shake(data: bytes, n: int) -> bytes:
    return hashlib.shake_256(data).digest(n)


def _open(blob: bytes, secret: bytes, subcred: bytes, revision: int, label: bytes) -> bytes | None:
    """Layer plaintext (NUL padding removed), or None if the MAC does not match these keys."""
    if len(blob) <= 16 + 32:
        raise DescriptorError("an encrypted layer is too short")
    salt, body, mac = blob[:16], blob[16:-32], blob[-32:]
    keys = _shake(secret + subcred + struct.pack(">Q", revision) + salt + label, 32 + 16 + 32)
    key, iv, mac_key = keys[:32], keys[32:48], keys[48:]
    ours = hashlib.sha3_256(struct.pack(">Q", 32) + mac_key + struct.pack(">Q", 16) + salt + body).digest()
    if not hmac.compare_digest(ours, mac):
        return None
    plain = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor().update(body)
    return plain.split(b"\0", 1)[0]


@dataclass(frozen=True)
class Descriptor:
    """A service's descriptor with its first layer opened."""

    blinded: bytes
    subcredential: bytes
    revision: int
    ephemeral_key: bytes
    auth_clients: tuple[tuple[bytes, bytes, bytes], ...]  # (client id, iv, encrypted cookie)
    inner: bytes  # layer 2, still encrypted

    @classmethod
    def parse(cls, text: str, onion_label: str) -> Descriptor:
        """TEXT as GETINFO hs/service/desc/id/ADDR gives it; ONION_LABEL is ADDR without .onion."""
        identity = base64.b32decode(onion_label.upper())[:32]
        blinded = _blinded_key(_block(text, "descriptor-signing-key-cert", "ED25519 CERT"))
        m = re.search(r"^revision-counter (\d{1,20})$", text, re.M)
        if not m:
            raise DescriptorError("no revision-counter in the descriptor")
        revision = int(m.group(1))
        credential = hashlib.sha3_256(b"credential" + identity).digest()
        subcred = hashlib.sha3_256(b"subcredential" + credential + blinded).digest()
        layer1 = _open(_block(text, "superencrypted", "MESSAGE"), blinded, subcred, revision, LAYER1)
        if layer1 is None:
            raise DescriptorError(
                "the descriptor is not this onion address's (its first layer does not open)"
            )
        plain = layer1.decode("utf-8", "replace")
        eph = re.search(r"^desc-auth-ephemeral-key (\S+)$", plain, re.M)
        if not eph:
            raise DescriptorError("no desc-auth-ephemeral-key in the descriptor")
        clients = tuple(
            (_b64(a), _b64(b), _b64(c))
            for a, b, c in re.findall(r"^auth-client (\S+) (\S+) (\S+)$", plain, re.M)
        )
        inner = _block(plain, "encrypted", "MESSAGE")
        return cls(blinded, subcred, revision, _b64(eph.group(1)), clients, inner)

    def _inner(self, cookie: bytes = b"") -> bytes | None:
        return _open(self.inner, self.blinded + cookie, self.subcredential, self.revision, LAYER2)

    @property
    def needs_client_auth(self) -> bool:
        """False when the introduction points open without any client key: the service is public."""
        return self._inner() is None

    def opens_with(self, client_private: bytes) -> bool:
        """True when the client holding this x25519 private key can open the introduction points."""
        shared = crypto_scalarmult(client_private, self.ephemeral_key)
        keys = _shake(self.subcredential + shared, 8 + 32)
        client_id, cookie_key = keys[:8], keys[8:]
        for cid, iv, encrypted in self.auth_clients:
            if hmac.compare_digest(cid, client_id) and len(iv) == 16:
                cookie = Cipher(algorithms.AES(cookie_key), modes.CTR(iv)).decryptor().update(encrypted)
                if self._inner(cookie) is not None:
                    return True
        return False
