"""The source's session after a codename login: a sealed cookie, and nothing on the server.

The cookie holds the conversation id and an expiry, sealed with SecretBox
under a key of the source app's own (DATA_DIR/source/session.key), so the
device's cookie jar shows nothing readable and the server keeps no record of
any login. It holds no key of the source's: reading replies again with
JavaScript off means entering the codename again. It has no Max-Age, so it
dies with the browser, and lasts `minutes` of inactivity at most.
"""

from __future__ import annotations

import struct
import time

import nacl.encoding
import nacl.exceptions
import nacl.secret
from flask import Request, Response

from tipline.config import is_loopback_host

MAX_COOKIE = 512  # far above a sealed id and expiry: anything longer is not ours


def _private_transport(request: Request) -> bool:
    """An onion or loopback host, where the transport is already private (as journalist.py decides)."""
    host = request.host.rsplit(":", 1)[0]
    return host.strip("[]").endswith(".onion") or is_loopback_host(host)


def cookie_name(request: Request) -> str:
    # __Host- requires Secure, which browsers honour only over HTTPS (or on loopback).
    return "__Host-tipline-source" if request.is_secure else "tipline-source"


class SourceSessions:
    def __init__(self, key: bytes, minutes: int) -> None:
        self._box = nacl.secret.SecretBox(key)
        self.seconds = minutes * 60

    def conversation_id(self, request: Request) -> str | None:
        """The conversation this browser is logged in to, or None (no cookie, expired, or not ours)."""
        raw = request.cookies.get(cookie_name(request), "")
        if not raw or len(raw) > MAX_COOKIE:
            return None
        try:
            plain = self._box.decrypt(raw.encode("ascii"), encoder=nacl.encoding.URLSafeBase64Encoder)
        except (nacl.exceptions.CryptoError, ValueError, UnicodeError):
            return None
        if len(plain) < 9:
            return None
        (expiry,) = struct.unpack(">Q", plain[:8])
        if expiry < time.time():
            return None
        return plain[8:].decode("ascii", "replace")

    def start(self, request: Request, resp: Response, conversation_id: str) -> None:
        """Set (or renew) the cookie: it lasts `minutes` from now, and no longer than the browser."""
        plain = struct.pack(">Q", int(time.time()) + self.seconds) + conversation_id.encode("ascii")
        value = self._box.encrypt(plain, encoder=nacl.encoding.URLSafeBase64Encoder).decode("ascii")
        resp.set_cookie(
            cookie_name(request),
            value,
            httponly=True,
            samesite="Strict",
            path="/",
            secure=request.is_secure or not _private_transport(request),
        )

    @staticmethod
    def end(request: Request, resp: Response) -> None:
        resp.delete_cookie(cookie_name(request), path="/", httponly=True, samesite="Strict")
