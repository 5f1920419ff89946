"""`tipline notify`: send what is due, retry what is pending, say plainly what failed.

Run hourly by the timer. Each channel (the webhook, and each email
recipient) is settled at most once per period, at or after the due hour;
one that fails keeps its message pending and the next run sends it again.
A log line names the channel and the error's class, never the text.
"""

from __future__ import annotations

import smtplib
import ssl
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TextIO

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tipline.config import Settings
from tipline.store.db import make_engine, make_sessions, open_read_only

from . import smtp, webhook
from .digest import (
    SUBJECT,
    TEST,
    activity,
    compose,
    current_period,
    due_at,
    failed_logins,
    hour_text,
    previous_period,
)
from .route import Route, RouteError
from .settings import NotifySettings, notify_settings
from .state import Pending, load, state_path

NOT_SET_UP = "Notifications are not set up: add [notify.smtp] or [notify.webhook] to tipline.toml."


@dataclass(frozen=True)
class Channel:
    name: str  # the state's key: "webhook" or "email:ADDRESS"
    label: str  # for people: "email to desk@example.org"
    send: Callable[[str], None]


def route_of(ns: NotifySettings) -> Route:
    return Route(ns.route, ns.tor_socks if ns.route == "tor" else "")


def open_accounts_db(settings: Settings) -> Engine:
    """The accounts database, opened once a run: each opening checks its schema and may VACUUM it."""
    from tipline.store.models import AccountsBase

    return make_engine(settings.accounts_db_url, AccountsBase.metadata, file_mode=0o600)


def channels(ns: NotifySettings, now: datetime, accounts: sessionmaker[Session]) -> list[Channel]:
    """Each recipient of the email (newsroom-wide, then each journalist's own), then the webhook."""
    from .addresses import NotifyAddresses

    route = route_of(ns)
    found: list[Channel] = []
    if ns.smtp is not None:
        cfg = ns.smtp
        recipients = dict.fromkeys([*cfg.to, *sorted(NotifyAddresses(accounts).all().values())])
        for to in recipients:
            found.append(
                Channel(
                    f"email:{to}", f"email to {to}", lambda text, to=to: smtp.send(cfg, route, to, text, now)
                )
            )
    if ns.webhook is not None:
        hook = ns.webhook
        found.append(
            Channel("webhook", f"webhook to {hook.host}", lambda text: webhook.send(hook, route, text))
        )
    return found


def _why(e: BaseException) -> str:
    """The error's class and what it means, never anything a server said back (it could echo text)."""
    name = type(e).__name__
    if isinstance(e, smtp.CredentialsError):
        return f"{name}: {e}"
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"{name}: its certificate was not accepted (a wrong name, or an authority not trusted)"
    if isinstance(e, smtplib.SMTPAuthenticationError):
        return f"{name}: the user and password in credentials_file were refused"
    if isinstance(e, RouteError):
        return f"{name}: {e}"
    if isinstance(e, smtplib.SMTPNotSupportedError):
        return f"{name}: the server does not offer STARTTLS, and nothing is sent in the clear"
    if isinstance(e, smtplib.SMTPResponseException):
        return f"{name}: the server refused it with code {e.smtp_code}"
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return f"{name}: the server refused the recipient"
    if isinstance(e, webhook.WebhookError):
        return f"{name}: the receiver answered {e}"
    if isinstance(e, ssl.SSLError):
        return f"{name}: the TLS connection failed"
    if isinstance(e, TimeoutError):
        return f"{name}: no answer in time"
    if isinstance(e, OSError):
        return f"{name}: could not connect"
    return name


def run(
    settings: Settings,
    now: datetime | None = None,
    *,
    dry_run: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """One run of the timer: 0 when all that was due was delivered (or nothing was), 1 if a channel failed."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    ns = notify_settings(settings)
    if not ns.configured:
        print(NOT_SET_UP, file=out)
        return 0
    period = current_period(ns, now)
    key, until = period.isoformat(), hour_text(due_at(ns, period))
    state = load(state_path(settings))
    texts: dict[str, str | None] = {}
    failed = 0
    route = route_of(ns)
    with ExitStack() as opened:
        engine = open_read_only(settings.db_url)  # the unit sees this database read-only
        opened.callback(engine.dispose)
        sessions = make_sessions(engine)
        accounts_engine = open_accounts_db(settings)  # once: the addresses, and each window's failed logins
        opened.callback(accounts_engine.dispose)
        accounts = make_sessions(accounts_engine)
        for ch in channels(ns, now, accounts):
            cs = state.channel(ch.name)
            if cs.settled >= key:
                if dry_run:
                    print(f"{ch.label}: nothing due (period {key} is settled).", file=out)
                continue
            if cs.pending is not None and cs.pending.period == key:
                text: str | None = cs.pending.text
            else:
                start = date.fromisoformat(cs.settled) if cs.settled else previous_period(ns, period)
                since = hour_text(due_at(ns, start))
                if since not in texts:
                    texts[since] = compose(
                        ns, activity(sessions, since, until), failed_logins(accounts, since)
                    )
                text = texts[since]
            if dry_run:
                _show(out, ch, key, route, text)
                continue
            if text is None:  # a quiet period, and quiet periods stay silent
                cs.settled, cs.pending = key, None
                state.save()
                continue
            if cs.pending is None or cs.pending.period != key:
                cs.pending = Pending(key, text)
                state.save()
            try:
                ch.send(text)
            except Exception as e:  # reported below and in the exit status, not swallowed
                failed += 1
                print(
                    f"tipline notify: {ch.label} failed ({_why(e)}). "
                    "The notification stays pending; the next run sends it again.",
                    file=err,
                )
                continue
            cs.settled, cs.pending = key, None
            state.save()
            print(f"Sent the notification for {key} by {ch.label}, {route.describe()}.", file=out)
    return 1 if failed else 0


def _show(out: TextIO, ch: Channel, key: str, route: Route, text: str | None) -> None:
    if text is None:
        print(
            f"{ch.label}: nothing to send for {key} (no new activity, and send_when_quiet is off).", file=out
        )
        return
    print(f"{ch.label}, {route.describe()}, for {key}:", file=out)
    print(f"  Subject: {SUBJECT}", file=out)
    for line in text.splitlines():
        print(f"  {line}", file=out)


def send_test(
    settings: Settings, now: datetime | None = None, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Send the test notification on every channel now; the state is left as it was."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    ns = notify_settings(settings)
    if not ns.configured:
        print(NOT_SET_UP, file=err)
        return 1
    failed = 0
    accounts_engine = open_accounts_db(settings)
    try:
        found = channels(ns, now, make_sessions(accounts_engine))
    finally:
        accounts_engine.dispose()
    for ch in found:
        try:
            ch.send(TEST + "\n")
        except Exception as e:  # reported, and in the exit status
            failed += 1
            print(f"tipline notify: {ch.label} failed ({_why(e)}).", file=err)
            continue
        print(f"Sent a test notification by {ch.label}, {route_of(ns).describe()}.", file=out)
    return 1 if failed else 0
