"""Email over SMTP: STARTTLS or implicit TLS, certificates always verified, over the chosen route.

smtplib connects by itself; the small subclasses below hand it a socket
opened by route.Route instead (directly or through tor). The greeting names
"localhost", not this machine, and the message's Date is the hour and its
Message-ID random, so no header carries the server's name or a precise time.
"""

from __future__ import annotations

import os
import secrets
import smtplib
import socket
import ssl
import stat
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from .digest import SUBJECT, padded
from .route import Route
from .settings import SmtpSettings

TIMEOUT = 60.0
HELO_NAME = "localhost"  # smtplib would send this machine's own name


class CredentialsError(Exception):
    """The credentials file is unsafe or unreadable; the message says how to fix it."""


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The system's CAs plus ca_file, hostnames checked: verification is never off."""
    ctx = ssl.create_default_context()
    if ca_file is not None:
        ctx.load_verify_locations(cafile=str(ca_file))
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def read_credentials(path: Path) -> tuple[str, str]:
    """(user, password) from a file of two lines that only its owner may read (mode 0600 or 0400)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise CredentialsError(f"Cannot open the SMTP credentials file {path} ({e.strerror}).") from None
    with os.fdopen(fd, "r", encoding="utf-8") as f:
        mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
        if mode & 0o077:
            raise CredentialsError(
                f"The SMTP credentials file {path} may be read by others (mode {mode:04o}); "
                f"make it the owner's only: chmod 600 {path}"
            )
        lines = f.read().splitlines()
    if len(lines) < 2 or not lines[0] or not lines[1]:
        raise CredentialsError(
            f"The SMTP credentials file {path} should hold two lines: the user, then the password."
        )
    return lines[0], lines[1]


class _RoutedSMTP(smtplib.SMTP):
    def __init__(self, route: Route, **kw) -> None:
        self._route = route
        super().__init__(**kw)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._route.connect(host, port, timeout)


class _RoutedSMTPS(smtplib.SMTP_SSL):
    def __init__(self, route: Route, **kw) -> None:
        self._route = route
        super().__init__(**kw)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        raw = self._route.connect(host, port, timeout)
        try:
            return self.context.wrap_socket(raw, server_hostname=host)
        except BaseException:
            raw.close()
            raise


def message(cfg: SmtpSettings, to: str, text: str, now: datetime) -> EmailMessage:
    """The email: fixed headers, the text padded to PAD_TO bytes and sent as base64 (a fixed size)."""
    msg = EmailMessage()
    msg["From"] = cfg.sender
    msg["To"] = to
    msg["Subject"] = SUBJECT
    msg["Date"] = format_datetime(now.astimezone(UTC).replace(minute=0, second=0, microsecond=0))
    domain = cfg.sender.rsplit("@", 1)[1]
    msg["Message-ID"] = f"<{secrets.token_hex(16)}@{domain}>"
    body = padded(text.encode("utf-8"), b"\n")
    msg.set_content(body, maintype="text", subtype="plain", cte="base64")
    msg.set_param("charset", "utf-8")
    return msg


def send(cfg: SmtpSettings, route: Route, to: str, text: str, now: datetime) -> None:
    """Deliver one message to one recipient; returns only once the server accepted it (its 250)."""
    ctx = tls_context(cfg.ca_file)
    creds = read_credentials(cfg.credentials_file) if cfg.credentials_file else None
    if cfg.security == "tls":
        client: smtplib.SMTP = _RoutedSMTPS(route, local_hostname=HELO_NAME, timeout=TIMEOUT, context=ctx)
    else:
        client = _RoutedSMTP(route, local_hostname=HELO_NAME, timeout=TIMEOUT)
    client._host = cfg.host  # starttls() checks the certificate against it; connect() does not set it
    try:
        client.connect(cfg.host, cfg.port)
        if cfg.security == "starttls":
            client.ehlo()
            client.starttls(context=ctx)  # raises SMTPNotSupportedError rather than go on in the clear
        client.ehlo()
        if creds:
            client.login(*creds)
        # send_message raises unless the recipient and the data were accepted (the final 250).
        client.send_message(message(cfg, to, text, now), cfg.sender, [to])
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()  # delivered or not was already decided; a lost QUIT changes nothing
