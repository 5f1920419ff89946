"""The webhook: one HTTPS POST of a JSON body (ntfy, Matrix or Slack-style receivers), over the route.

The body is the configured template with $text replaced by the notification's
text, JSON-escaped, then padded with spaces after the JSON (which JSON allows)
to a whole number of PAD_TO bytes, so its size says nothing. Certificates are
always verified; plain http:// is accepted only to this machine (settings.py).
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from .digest import padded
from .route import Route
from .settings import WebhookSettings
from .smtp import TIMEOUT, tls_context

USER_AGENT = "Tipline"


class WebhookError(Exception):
    """The receiver answered, but not with a 2xx status."""


def body(cfg: WebhookSettings, text: str) -> bytes:
    filled = cfg.body.replace("$text", json.dumps(text.rstrip("\n"), ensure_ascii=False)[1:-1])
    return padded(filled.encode("utf-8"), b" ")


class _RoutedHTTP(http.client.HTTPConnection):
    def __init__(self, route: Route, host: str, port: int | None, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._route = route

    def connect(self) -> None:
        self.sock = self._route.connect(self.host, self.port, self.timeout)


class _RoutedHTTPS(http.client.HTTPSConnection):
    def __init__(self, route: Route, host: str, port: int | None, timeout: float, context) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._route = route

    def connect(self) -> None:
        raw = self._route.connect(self.host, self.port, self.timeout)
        try:
            self.sock = self._context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


def send(cfg: WebhookSettings, route: Route, text: str) -> None:
    """POST the body; returns only once the receiver answered 2xx."""
    url = urlsplit(cfg.url)
    host = url.hostname or ""
    if url.scheme == "https":
        conn: http.client.HTTPConnection = _RoutedHTTPS(
            route, host, url.port, TIMEOUT, tls_context(cfg.ca_file)
        )
    else:
        conn = _RoutedHTTP(route, host, url.port, TIMEOUT)
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    try:
        conn.request(
            "POST",
            path,
            body=body(cfg, text),
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
        resp = conn.getresponse()
        resp.read(64 * 1024)
        if not 200 <= resp.status < 300:
            raise WebhookError(f"HTTP {resp.status}")
    finally:
        conn.close()
