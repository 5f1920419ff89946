"""Journalist accounts: diceware passphrases, Argon2id hashes, TOTP, throttling, sessions.

No Flask here: the journalist app and the `tipline journalist` command both
call these functions, on the accounts database (models.AccountsBase).

Every check that must hold under parallel requests is decided by one
conditional UPDATE whose row count says who won: the throttle's attempt
slot (tipline/store/throttle.py) and the TOTP step a code is spent on.
Names that do not exist take exactly the same path as names that do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from . import throttle
from .account_key import AccountKey, SealError
from .models import Journalist, JournalistSession

PASSPHRASE_WORDS = 7  # 7 words from 7776: about 90 bits
MIN_WORDS, MIN_CHARS = 7, 40
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
TOTP_PERIOD, TOTP_DIGITS = 30, 6
ISSUER = "Tipline"

_hasher = PasswordHasher()  # argon2-cffi's defaults: Argon2id, RFC 9106's low-memory profile
# Verified against when a name does not exist, so both cases take as long.
_DUMMY_HASH = _hasher.hash("tipline dummy passphrase for timing")


class AccountError(Exception):
    """An account operation cannot be done; the message says why."""


class LoginRefused(Exception):
    """The name, passphrase or code was not accepted. Says no more, on purpose."""


class Throttled(Exception):
    """Too many recent attempts for this name; `wait` says how many seconds until the next."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"Too many attempts. Wait {wait} seconds, then try again.")
        self.wait = wait


def wordlist() -> list[str]:
    """The EFF large wordlist (7776 words, CC BY 3.0 US), shipped as package data."""
    text = files("tipline").joinpath("data/eff_large_wordlist.txt").read_text("utf-8")
    return text.split()


def new_passphrase(words: int = PASSPHRASE_WORDS) -> str:
    wl = wordlist()
    return " ".join(secrets.choice(wl) for _ in range(words))


def check_strength(passphrase: str) -> None:
    """Accept what is at least as strong as 7 diceware words, by a simple, explainable rule."""
    if len(passphrase.split()) >= MIN_WORDS or len(passphrase) >= MIN_CHARS:
        return
    raise AccountError(
        f"That passphrase is too weak: use {MIN_WORDS} or more random words, or {MIN_CHARS}+ characters. "
        "Leave --passphrase-file out to have one generated."
    )


def _totp(secret_b32: str) -> TOTP:
    # SHA-1 HMAC is what RFC 6238 and every authenticator app use; it is not a collision use.
    return TOTP(base64.b32decode(secret_b32), TOTP_DIGITS, SHA1(), TOTP_PERIOD, enforce_key_length=False)  # noqa: S303


def provisioning_uri(name: str, secret_b32: str) -> str:
    return _totp(secret_b32).get_provisioning_uri(name, ISSUER)


@dataclass
class Enrolment:
    name: str
    passphrase: str
    totp_uri: str


class Accounts:
    def __init__(
        self, sessions: sessionmaker[Session], key: AccountKey, idle_s: int = 1800, max_s: int = 8 * 3600
    ) -> None:
        self.sessions = sessions
        self.key = key
        self.idle_s = idle_s
        self.max_s = max_s

    # -- admin ------------------------------------------------------------------------

    def add(self, name: str, passphrase: str | None = None) -> Enrolment:
        if not NAME.match(name):
            raise AccountError("A name is 1-64 lower-case letters, digits, dots, dashes or underscores.")
        if passphrase is None:
            passphrase = new_passphrase()
        else:
            check_strength(passphrase)
        secret = _new_totp_secret()
        with self.sessions.begin() as s:
            if s.get(Journalist, name) is not None:
                raise AccountError(f"A journalist named {name} already exists.")
            s.add(
                Journalist(
                    name=name,
                    passphrase_hash=_hasher.hash(passphrase),
                    totp_secret=self.key.seal(name, secret),
                    last_totp_step=0,
                )
            )
        return Enrolment(name, passphrase, provisioning_uri(name, secret))

    def names(self) -> list[str]:
        with self.sessions() as s:
            return list(s.scalars(select(Journalist.name).order_by(Journalist.name)))

    def remove(self, name: str) -> None:
        with self.sessions.begin() as s:
            j = s.get(Journalist, name)
            if j is None:
                raise AccountError(f"No journalist named {name}.")
            s.execute(delete(JournalistSession).where(JournalistSession.journalist == name))
            s.delete(j)

    def reset_totp(self, name: str) -> str:
        secret = _new_totp_secret()
        with self.sessions.begin() as s:
            j = s.get(Journalist, name)
            if j is None:
                raise AccountError(f"No journalist named {name}.")
            j.totp_secret, j.last_totp_step = self.key.seal(name, secret), 0
            s.execute(delete(JournalistSession).where(JournalistSession.journalist == name))
        return provisioning_uri(name, secret)

    # -- login ------------------------------------------------------------------------

    def login(self, name: str, passphrase: str, code: str, now: float | None = None) -> str:
        """Check all three; return a new session token. Raises LoginRefused or Throttled.

        An attempt slot is taken (and committed) before the slow passphrase
        check, so parallel guesses cannot all be checked; the code is spent by
        a conditional UPDATE, so it logs in once however many requests race.
        """
        now_f = now if now is not None else time.time()
        now_i = int(now_f)
        tag = self.key.name_tag(name)
        with self.sessions.begin() as s:
            wait = throttle.reserve(s, tag, int(now_f * 1000))
        if wait:
            raise Throttled(wait)
        with self.sessions() as s:
            j = s.get(Journalist, name) if NAME.match(name) else None
        # An unknown name is verified against a dummy hash: both take as long.
        if not _verify(j.passphrase_hash if j else _DUMMY_HASH, passphrase) or j is None:
            raise LoginRefused()
        try:
            secret = self.key.open(name, j.totp_secret)
        except SealError as e:
            raise AccountError(str(e)) from None
        step = _totp_step(secret, code, now_i, j.last_totp_step)
        if step is None:
            raise LoginRefused()
        token = secrets.token_urlsafe(32)
        with self.sessions.begin() as s:
            spent = s.execute(
                update(Journalist)
                .where(Journalist.name == name, Journalist.last_totp_step < step)
                .values(last_totp_step=step)
                .execution_options(synchronize_session=False)
            ).rowcount
            if spent != 1:  # another request spent this code (or a later one) first
                raise LoginRefused()
            throttle.refund(s, tag)
            if _hasher.check_needs_rehash(j.passphrase_hash):
                s.execute(
                    update(Journalist)
                    .where(Journalist.name == name)
                    .values(passphrase_hash=_hasher.hash(passphrase))
                    .execution_options(synchronize_session=False)
                )
            s.add(
                JournalistSession(
                    token_hash=_token_hash(token), journalist=name, created_at=now_i, last_seen=now_i
                )
            )
        return token

    def session_user(self, token: str, now: float | None = None) -> str | None:
        """The journalist a session token belongs to, or None when absent or expired."""
        if not token:
            return None
        now_i = int(now if now is not None else time.time())
        with self.sessions.begin() as s:
            row = s.get(JournalistSession, _token_hash(token))
            if row is None:
                return None
            if now_i - row.last_seen > self.idle_s or now_i - row.created_at > self.max_s:
                s.delete(row)
                return None
            row.last_seen = now_i
            return row.journalist

    def logout(self, token: str) -> None:
        with self.sessions.begin() as s:
            s.execute(delete(JournalistSession).where(JournalistSession.token_hash == _token_hash(token)))


def open_accounts(
    url: str, key_path: Path, idle_s: int = 1800, max_s: int = 8 * 3600, data_dir: object = None
) -> Accounts:
    """The accounts database at `url`, with the key file that seals its TOTP secrets."""
    from .db import make_engine, make_sessions
    from .models import AccountsBase

    engine = make_engine(url, AccountsBase.metadata, file_mode=0o600, data_dir=data_dir)  # its owner's alone
    return Accounts(make_sessions(engine), AccountKey.from_file(key_path), idle_s, max_s)


def _new_totp_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _verify(hash_: str, passphrase: str) -> bool:
    try:
        return _hasher.verify(hash_, passphrase)
    except (VerificationError, InvalidHashError):
        return False


def _totp_step(secret: str, code: str, now: int, last_step: int) -> int | None:
    """The time step a code is valid for (one step of clock drift either way), if unused."""
    code = code.strip().replace(" ", "")
    if not re.fullmatch(r"\d{6}", code):
        return None
    t = _totp(secret)
    found = None
    for step in (now // TOTP_PERIOD - 1, now // TOTP_PERIOD, now // TOTP_PERIOD + 1):
        if hmac.compare_digest(t.generate(step * TOTP_PERIOD), code.encode()) and step > last_step:
            found = step
    return found
