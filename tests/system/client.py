"""An HTTP client for the apps inside the container (call it through Machine.in_netns).

It connects from 127.0.0.77, not 127.0.0.1, and sends a user agent of its own, so the journal
check can look for exactly what this client would have leaked.
"""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pyotp

from tests.web.server import Response, multipart

CLIENT_ADDRESS = "127.0.0.77"
USER_AGENT = "TiplineSystemTest/1.0 (probe-ua-5e1d)"
SOURCE_PORT, JOURNALIST_PORT = 8080, 8081  # deploy/systemd: TIPLINE_BIND of each unit
TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@dataclass
class Client:
    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Response:
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=60, source_address=(CLIENT_ADDRESS, 0)
        )
        h = {"User-Agent": USER_AGENT, **(headers or {})}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            resp = Response(r.status, r.headers, r.read())
        finally:
            conn.close()
        for value in resp.headers.get_all("Set-Cookie") or []:
            k, v = value.split(";", 1)[0].split("=", 1)
            self.cookies[k] = v
        return resp

    def token(self, path: str = "/") -> str:
        r = self.request("GET", path)
        assert r.status == 200, (path, r.status)
        return TOKEN.search(r.body.decode()).group(1)

    def post_urlencoded(self, path: str, fields: dict) -> Response:
        body = urlencode(fields, doseq=True).encode()
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})


def send_tip(message: str, files: list[tuple[str, str, bytes, str]] = ()) -> Response:  # type: ignore[assignment]
    """A first tip with JavaScript off, as a source's browser sends it: 200 means acknowledged."""
    c = Client(SOURCE_PORT)
    body, ctype = multipart([("csrf_token", c.token()), ("message", message)], files)
    return c.request("POST", "/submit", body, {"Content-Type": ctype})


def download_new(name: str, passphrase: str, totp: pyotp.TOTP) -> bytes:
    """Log in (passphrase and the current TOTP code) and download every new submission as a bundle."""
    c = Client(JOURNALIST_PORT)
    r = c.post_urlencoded(
        "/login",
        {"csrf_token": c.token("/login"), "name": name, "passphrase": passphrase, "code": totp.now()},
    )
    assert r.status == 303 and r.header("Location") == "/", (r.status, r.body[:300])
    r = c.post_urlencoded("/download", {"csrf_token": c.token("/"), "which": "new"})
    assert r.status == 200 and r.header("Content-Type") == "application/x-tar", (r.status, r.body[:300])
    return r.body


def get(port: int, path: str = "/") -> int:
    return Client(port).request("GET", path).status
