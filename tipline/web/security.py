"""Response headers every page carries, and the CSRF check.

The CSP allows only same-origin scripts and styles, no inline code, and
'wasm-unsafe-eval' so that libsodium can compile its WebAssembly (it allows
WebAssembly compilation only, not JavaScript eval; where WebAssembly is off,
as in Tor Browser's Safer level, libsodium falls back to plain JavaScript).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import quote

from flask import Flask, Request, Response, abort, make_response, render_template

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

PERMISSIONS = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "clipboard-read",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
        "interest-cohort",
    )
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Permissions-Policy": PERMISSIONS,
    "Cache-Control": "no-store",
}

CSRF_COOKIE = "tipline_csrf"


# What may stay as it is in a URL's path, and in its query (which arrives still percent-encoded).
PATH_SAFE = "/:@!$&'()*+,;=-._~"
QUERY_SAFE = PATH_SAFE + "?%"


def onion_location(onion_address: str, request: Request) -> str:
    """This page's address on the onion, percent-encoded: the path arrives decoded, and a
    decoded %0a in a header would end it (Werkzeug refuses it, failing the response)."""
    url = f"http://{onion_address}{quote(request.path, safe=PATH_SAFE)}"
    if request.query_string:
        url += "?" + quote(request.query_string, safe=QUERY_SAFE)
    return url


def install_headers(app: Flask, onion_address: str) -> None:
    """Every response gets HEADERS. This runs after the error handlers, so nothing here may fail.

    gunicorn's own Server and Date headers are removed in tipline/server.py.
    """

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.update(HEADERS)
        # Precise times and content hashes: nothing a source needs, and both
        # could help link visits.
        for name in ("ETag", "Last-Modified", "Expires"):
            resp.headers.pop(name, None)
        if onion_address:
            from flask import request

            resp.headers["Onion-Location"] = onion_location(onion_address, request)
        return resp


class Csrf:
    """Double-submit CSRF: a random cookie, and a form field that is its HMAC.

    The cookie lives as long as the browser session, so a token never expires
    in the middle of an hour-long upload over Tor.
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, value: str) -> str:
        return hmac.new(self._secret, value.encode(), hashlib.sha256).hexdigest()

    def token_for(self, request: Request) -> tuple[str, str | None]:
        """The form token, and a new cookie value to set if there was none."""
        cookie = request.cookies.get(CSRF_COOKIE, "")
        new = None
        if len(cookie) != 43:
            cookie = new = secrets.token_urlsafe(32)
        return self._mac(cookie), new

    def check(self, request: Request, token: str | None) -> None:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not token or not hmac.compare_digest(self._mac(cookie), token):
            abort(403, "csrf")

    @staticmethod
    def set_cookie(resp: Response, value: str) -> None:
        resp.set_cookie(CSRF_COOKIE, value, httponly=True, samesite="Strict", path="/")

    def rotate(self, resp: Response) -> None:
        """A new cookie at login: a token learnt or planted before it is worthless after."""
        self.set_cookie(resp, secrets.token_urlsafe(32))

    def page(self, request: Request, template: str, status: int = 200, **context: object) -> Response:
        """Render a page whose forms carry the token, setting the cookie on a first visit."""
        token, new_cookie = self.token_for(request)
        resp = make_response(render_template(template, csrf_token=token, **context), status)
        if new_cookie:
            self.set_cookie(resp, new_cookie)
        return resp


def check_origin(request: Request) -> None:
    """Refuse a cross-site POST outright when the browser says where it came from."""
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        host = origin.split("://", 1)[-1]
        if host != request.host:
            abort(403, "origin")
