"""The [notify] settings (docs/notifications.md): read from Settings.notify and checked in one place.

Every mistake is one plain line naming the setting, so `tipline notify` and
`tipline notify --dry-run` can say what to fix before anything is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tipline.config import ConfigError, Settings, is_loopback_host

PERIODS = ("daily", "weekly")
ROUTES = ("tor", "direct")
SECURITIES = ("starttls", "tls")
# Debian's AppArmor profile lets tor make a SOCKS socket only at /run/tor/socks (deploy/torrc).
DEFAULT_TOR_SOCKS = "/run/tor/socks"
DEFAULT_BODY = '{"message": "$text"}'
# Plain on purpose: one @, a dotted domain, nothing a mail header could be bent with.
ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


class NotifyConfigError(ConfigError):
    """A [notify] setting is missing or wrong; the message names it and says how to fix it."""


def check_address(address: str, what: str = "The address") -> str:
    """An email address, trimmed, or NotifyConfigError: plain local@domain.tld, at most 254 characters."""
    address = address.strip()
    if len(address) > 254 or not ADDRESS.match(address):
        raise NotifyConfigError(f"{what} {address!r} is not an email address like name@example.org.")
    return address


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    sender: str
    to: tuple[str, ...]
    credentials_file: Path | None
    ca_file: Path | None


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    body: str
    ca_file: Path | None

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


@dataclass(frozen=True)
class NotifySettings:
    period: str = "daily"
    hour: int = 8
    weekday: int = 0
    counts: bool = False
    send_when_quiet: bool = False
    route: str = "tor"
    tor_socks: str = DEFAULT_TOR_SOCKS
    smtp: SmtpSettings | None = None
    webhook: WebhookSettings | None = None

    @property
    def configured(self) -> bool:
        return self.smtp is not None or self.webhook is not None


def _take(table: Mapping[str, Any], where: str, known: set[str]) -> dict[str, Any]:
    unknown = sorted(set(table) - known)
    if unknown:
        raise NotifyConfigError(f"[{where}]: unknown setting {unknown[0]!r}.")
    return dict(table)


def _str(t: dict, key: str, where: str, default: str | None = None) -> str:
    v = t.get(key, default)
    if not isinstance(v, str) or (default is None and not v.strip()):
        raise NotifyConfigError(f'[{where}] {key} should be text, for example {key} = "...".')
    return v.strip()


def _int(t: dict, key: str, where: str, default: int, lo: int, hi: int) -> int:
    v = t.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise NotifyConfigError(f"[{where}] {key} should be a whole number from {lo} to {hi}, not {v!r}.")
    return v


def _bool(t: dict, key: str, where: str) -> bool:
    v = t.get(key, False)
    if not isinstance(v, bool):
        raise NotifyConfigError(f"[{where}] {key} should be true or false, not {v!r}.")
    return v


def _choice(t: dict, key: str, where: str, choices: tuple[str, ...]) -> str:
    v = t.get(key, choices[0])
    if v not in choices:
        raise NotifyConfigError(
            f"[{where}] {key} should be one of {', '.join(map(repr, choices))}, not {v!r}."
        )
    return v


def _path(t: dict, key: str, where: str, base: Path) -> Path | None:
    v = _str(t, key, where, "")
    return (base / v) if v else None  # a relative path is in the data folder


def _smtp(t: Mapping[str, Any], base: Path) -> SmtpSettings:
    w = "notify.smtp"
    t = _take(t, w, {"host", "port", "security", "from", "to", "credentials_file", "ca_file"})
    security = _choice(t, "security", w, SECURITIES)
    to = t.get("to", [])
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not all(isinstance(a, str) for a in to):
        raise NotifyConfigError(f'[{w}] to should be a list of addresses, like to = ["desk@example.org"].')
    return SmtpSettings(
        host=_str(t, "host", w),
        port=_int(t, "port", w, 587 if security == "starttls" else 465, 1, 65535),
        security=security,
        sender=check_address(_str(t, "from", w), f"[{w}] from:"),
        to=tuple(dict.fromkeys(check_address(a, f"[{w}] to:") for a in to)),
        credentials_file=_path(t, "credentials_file", w, base),
        ca_file=_path(t, "ca_file", w, base),
    )


def _webhook(t: Mapping[str, Any], base: Path) -> WebhookSettings:
    w = "notify.webhook"
    t = _take(t, w, {"url", "body", "ca_file"})
    url = _str(t, "url", w)
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.hostname and is_loopback_host(parts.hostname):
        pass  # a receiver on this machine: nothing crosses a network
    elif parts.scheme != "https" or not parts.hostname:
        raise NotifyConfigError(
            f"[{w}] url {url!r} should be an https:// address (plain http:// only to this machine)."
        )
    body = _str(t, "body", w, DEFAULT_BODY)
    if "$text" not in body:
        raise NotifyConfigError(f"[{w}] body should contain $text, where the notification's text goes.")
    try:
        json.loads(body.replace("$text", "x"))
    except ValueError:
        raise NotifyConfigError(
            f"[{w}] body is not JSON once $text is filled in; write it like {DEFAULT_BODY}."
        ) from None
    return WebhookSettings(url=url, body=body, ca_file=_path(t, "ca_file", w, base))


def notify_settings(settings: Settings) -> NotifySettings:
    """The checked [notify] settings, or NotifyConfigError with the one line to fix."""
    w = "notify"
    t = _take(
        settings.notify,
        w,
        {"period", "hour", "weekday", "counts", "send_when_quiet", "route", "tor_socks", "smtp", "webhook"},
    )
    for sub in ("smtp", "webhook"):
        if sub in t and not isinstance(t[sub], dict):
            raise NotifyConfigError(f"[notify] {sub} should be a table ([notify.{sub}]).")
    tor_socks = _str(t, "tor_socks", w, DEFAULT_TOR_SOCKS)
    if not tor_socks.startswith("/"):
        host, sep, port = tor_socks.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise NotifyConfigError(
                f"[notify] tor_socks {tor_socks!r} should be a socket path (/run/...) or host:port."
            )
    base = settings.data_dir
    return NotifySettings(
        period=_choice(t, "period", w, PERIODS),
        hour=_int(t, "hour", w, 8, 0, 23),
        weekday=_int(t, "weekday", w, 0, 0, 6),
        counts=_bool(t, "counts", w),
        send_when_quiet=_bool(t, "send_when_quiet", w),
        route=_choice(t, "route", w, ROUTES),
        tor_socks=tor_socks,
        smtp=_smtp(t["smtp"], base) if "smtp" in t else None,
        webhook=_webhook(t["webhook"], base) if "webhook" in t else None,
    )
