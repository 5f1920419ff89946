"""Server settings: defaults, then a TOML file, then TIPLINE_* variables, then flags.

One frozen object, built once and passed to the app factories explicitly.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tipline.newsroom import KEYS, with_paths

MB = 1024 * 1024
ONION = re.compile(r"^[a-z2-7]{56}\.onion$")


class ConfigError(Exception):
    """A setting is missing or out of range; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    bind: str = "127.0.0.1:8080"
    # SecureDrop's limit: 500 MB for a whole submission.
    max_upload_mb: int = 500
    max_files: int = 20
    max_message_kb: int = 1024
    onion_address: str = ""
    # The submissions database (shared by both apps) and the journalists' own accounts database.
    database_url: str = ""
    accounts_database_url: str = ""
    workers: int = 2
    # Slow-body defence: a read waiting longer than body_idle_s fails, and after
    # body_grace_s a body slower than body_min_rate bytes/s on average is cut off.
    body_idle_s: int = 60
    body_grace_s: int = 60
    body_min_rate: int = 2048
    # Journalist sessions end after this much inactivity, and this long after login.
    session_idle_minutes: int = 30
    session_max_hours: int = 8
    # Delete a submission this many days after its first download (0: keep until purged).
    delete_after_download_days: int = 0
    # `tipline log purge` deletes activity log entries older than this (docs/activity-log.md).
    activity_retention_days: int = 365
    # Log lines caused by requests are counted and written once per this many seconds (a whole
    # hour): a line's own time would say to the second when a source was here (tipline/web/digest.py).
    log_hold_s: int = 3600
    # Codename logins derived on the server at once, per worker: the rest get a plain 503 at once,
    # so a flood of logins never takes the threads the form needs (docs/conversations.md).
    max_logins_in_flight: int = 2
    # A source's session after a codename login ends after this much inactivity (and with the browser),
    # and this long after the login however often it is renewed: the server cannot revoke a copy.
    source_session_minutes: int = 30
    source_session_max_minutes: int = 120
    # A folder of compiled catalogs (<app>/<lang>/LC_MESSAGES/messages.mo) read instead of the
    # package's own, to try a translation before it ships; empty: the package's (docs/translating.md).
    translations_dir: str = ""
    # The [newsroom] table as written (tipline/newsroom.py checks it: docs/newsroom.md), logo paths
    # made absolute from the settings file's folder.
    newsroom: Mapping[str, Any] = field(default_factory=dict)
    # The [notify] table as written, with its [notify.smtp] and [notify.webhook] tables; checked by
    # tipline/notify/settings.py when `tipline notify` runs (docs/notifications.md), not by the apps.
    notify: Mapping[str, Any] = field(default_factory=dict)
    # Uploads in parts (docs/uploads.md): how long an unfinished one waits, and how much may wait at
    # once, by declared length (0: 4 x max_upload_mb) and by number.
    pending_upload_hours: int = 24
    max_pending_mb: int = 0
    max_pending_uploads: int = 200
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * MB

    @property
    def max_sealed_bytes(self) -> int:
        """What a tip sealed in the browser may weigh: its envelopes are larger than what they hold.

        Padmé adds at most 11.8 %, and each item carries a header and its metadata (a few KiB at
        most). It is also the largest one envelope may be (Tus-Max-Size, docs/uploads.md).
        """
        return self.max_upload_bytes * 112 // 100 + (self.max_files + 1) * 8192

    @property
    def max_pending_bytes(self) -> int:
        return (self.max_pending_mb or 4 * self.max_upload_mb) * MB

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'tipline.sqlite3'}"

    @property
    def accounts_db_url(self) -> str:
        """Journalist accounts, sessions and throttle state: only the journalist app opens it."""
        return self.accounts_database_url or f"sqlite:///{self.journalist_private_dir / 'accounts.db'}"

    @property
    def source_private_dir(self) -> Path:
        """The source app's own folder (its CSRF secret); the journalist app never reads it."""
        return self.data_dir / "source"

    @property
    def journalist_private_dir(self) -> Path:
        """The journalist app's own folder: accounts.db, csrf.secret, totp.key. Never the source app's."""
        return self.data_dir / "journalist"

    @property
    def totp_key_path(self) -> Path:
        return self.journalist_private_dir / "totp.key"

    @property
    def install_salt_path(self) -> Path:
        """The installation's codename salt: 16 random bytes, public, published on the source pages."""
        return self.source_private_dir / "install.salt"

    @property
    def source_session_key_path(self) -> Path:
        """The key that seals the source's session cookie, so the device's cookie jar shows nothing."""
        return self.source_private_dir / "session.key"

    def private_dir(self, app: str) -> Path:
        """The folder of the app named "source" or "journalist"."""
        return self.journalist_private_dir if app == "journalist" else self.source_private_dir

    def csrf_secret_path(self, app: str) -> Path:
        """Each app's CSRF secret, in its own folder, so a token of one is worthless to the other."""
        return self.private_dir(app) / "csrf.secret"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"

    def validate(self) -> Settings:
        if self.max_upload_mb < 1 or self.max_files < 1 or self.max_message_kb < 1:
            raise ConfigError("max_upload_mb, max_files and max_message_kb must be at least 1.")
        if self.max_logins_in_flight < 1 or self.source_session_minutes < 1:
            raise ConfigError("max_logins_in_flight and source_session_minutes must be at least 1.")
        if self.activity_retention_days < 1:
            raise ConfigError("activity_retention_days must be at least 1 (a number of days, e.g. 365).")
        if self.pending_upload_hours < 1 or self.max_pending_uploads < 1 or self.max_pending_mb < 0:
            raise ConfigError(
                "pending_upload_hours and max_pending_uploads must be at least 1, and max_pending_mb "
                "at least 0 (0: four times max_upload_mb)."
            )
        if self.max_pending_mb and self.max_pending_bytes < self.max_sealed_bytes:
            raise ConfigError(
                f"max_pending_mb must leave room for one whole tip: at least "
                f"{-(-self.max_sealed_bytes // MB)} with max_upload_mb = {self.max_upload_mb}, or 0."
            )
        if self.source_session_max_minutes < self.source_session_minutes:
            raise ConfigError("source_session_max_minutes must be at least source_session_minutes.")
        if self.onion_address and not ONION.match(self.onion_address):
            raise ConfigError(
                f"onion_address {self.onion_address!r} is not a v3 onion name "
                "(56 letters and digits, then .onion)."
            )
        _host, sep, port = self.bind.rpartition(":")
        if not self.bind.startswith("unix:") and (not sep or not port.isdigit()):
            raise ConfigError(f"bind {self.bind!r} should look like 127.0.0.1:8080 or unix:/path/to.sock.")
        return self


def is_loopback_host(host: str) -> bool:
    """True for localhost and any loopback IP address, with or without [brackets]."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_bind(bind: str) -> bool:
    """True for 'unix:/path', '127.x.y.z:PORT', '[::1]:PORT' and 'localhost:PORT'."""
    if bind.startswith("unix:"):
        return len(bind) > len("unix:")
    host, sep, port = bind.rpartition(":")
    return bool(sep) and port.isdigit() and is_loopback_host(host)


def require_loopback_bind(bind: str, how: str) -> None:
    """Refuse a bind that anything but the local tor could reach; `how` says where to fix it."""
    if not is_loopback_bind(bind):
        raise ConfigError(
            f"refusing to bind to {bind!r}: Tipline must be reachable only through its Tor onion "
            f"service. {how} to 127.0.0.1:PORT or unix:/path."
        )


_FIELDS = {
    f.name: f
    for f in dataclasses.fields(Settings)
    if f.name not in ("data_dir", "newsroom", "notify", "extra")
}


def _coerce(name: str, value: Any) -> Any:
    kind = _FIELDS[name].type
    try:
        return int(value) if kind == "int" else str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"Setting {name} should be a whole number, not {value!r}.") from None


def load_settings(
    data_dir: Path | str | None = None,
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    **overrides: Any,
) -> Settings:
    """Build settings from the file, then the environment, then explicit overrides (flags)."""
    values: dict[str, Any] = {}
    newsroom: dict[str, Any] = {}
    notify: dict[str, Any] = {}
    data_dir = data_dir or environ.get("TIPLINE_DATA_DIR")
    if config_file is None and data_dir and (Path(data_dir) / "tipline.toml").exists():
        config_file = Path(data_dir) / "tipline.toml"
    if config_file is not None:
        try:
            doc = tomllib.loads(Path(config_file).read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"Cannot read the settings file {config_file}: {e}") from None
        for k, v in doc.items():
            if k == "data_dir" and not data_dir:
                data_dir = v
            elif k == "newsroom":
                if not isinstance(v, dict):
                    raise ConfigError(f"{config_file}: newsroom should be a table ([newsroom]).")
                newsroom = with_paths(v, Path(config_file).resolve().parent)
            elif k == "notify":
                if not isinstance(v, dict):
                    raise ConfigError(f"{config_file}: notify should be a table ([notify]).")
                notify = v
            elif k not in _FIELDS:
                raise ConfigError(f"{config_file}: unknown setting {k!r}.")
            else:
                values[k] = _coerce(k, v)
    for name in _FIELDS:
        env_value = environ.get(f"TIPLINE_{name.upper()}")
        if env_value is not None:
            values[name] = _coerce(name, env_value)
    for key in KEYS:  # the [newsroom] table's own settings (not a language's), e.g. TIPLINE_NEWSROOM_NAME
        env_value = environ.get(f"TIPLINE_NEWSROOM_{key.upper()}")
        if env_value is not None:
            newsroom.update(with_paths({key: env_value}, Path.cwd()))
    for name, v in overrides.items():
        if v is not None:
            values[name] = _coerce(name, v)
    if not data_dir:
        raise ConfigError("No data folder: pass --data-dir DIR or set TIPLINE_DATA_DIR.")
    return Settings(data_dir=Path(data_dir).resolve(), newsroom=newsroom, notify=notify, **values).validate()
