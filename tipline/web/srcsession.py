"""The source's session after a codename login: a sealed cookie, and nothing on the server.

The cookie holds the conversation id, an expiry and the time of the login,
sealed with SecretBox under a key of the source app's own
(DATA_DIR/source/session.key), so the device's cookie jar shows nothing
readable and the server keeps no record of any login. It holds no key of the
source's: reading replies again with JavaScript off means entering the
codename again. It has no Max-Age, so it dies with the browser, and lasts
`minutes` of inactivity at most and `max_minutes` after the login however
often it is renewed: the server cannot revoke a copy of it (it keeps no
state), so a copy taken before the source left must die on its own.
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
    def __init__(self, key: bytes, minutes: int, max_minutes: int) -> None:
        self._box = nacl.secret.SecretBox(key)
        self.seconds = minutes * 60
        self.max_seconds = max_minutes * 60

    def _open(self, request: Request) -> tuple[str, int] | None:
        """The conversation id and the login's time, from a live cookie sealed by us; None otherwise."""
        raw = request.cookies.get(cookie_name(request), "")
        if not raw or len(raw) > MAX_COOKIE:
            return None
        try:
            plain = self._box.decrypt(raw.encode("ascii"), encoder=nacl.encoding.URLSafeBase64Encoder)
        except (nacl.exceptions.CryptoError, ValueError, UnicodeError):
            return None
        if len(plain) < 17:
            return None
        expiry, started = struct.unpack(">QQ", plain[:16])
        now = time.time()
        if expiry < now or not now - self.max_seconds <= started <= now:
            return None
        return plain[16:].decode("ascii", "replace"), started

    def conversation_id(self, request: Request) -> str | None:
        """The conversation this browser is logged in to, or None (no cookie, expired, or not ours)."""
        opened = self._open(request)
        return None if opened is None else opened[0]

    def start(self, request: Request, resp: Response, conversation_id: str, login: bool = False) -> None:
        """Set the cookie at a login, or renew it: `minutes` from now, but never past `max_minutes`
        after the login that made it, and no longer than the browser."""
        now = int(time.time())
        opened = None if login else self._open(request)
        started = opened[1] if opened is not None and opened[0] == conversation_id else now
        expiry = min(now + self.seconds, started + self.max_seconds)
        plain = struct.pack(">QQ", expiry, started) + conversation_id.encode("ascii")
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
        """Clear the cookie with the attributes it was set with: a browser ignores a __Host- cookie
        cleared without Secure, and would keep the session after the source left."""
        resp.delete_cookie(
            cookie_name(request),
            path="/",
            httponly=True,
            samesite="Strict",
            secure=request.is_secure or not _private_transport(request),
        )
