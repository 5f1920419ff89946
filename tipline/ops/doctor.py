"""`tipline doctor`: check a deployment and say exactly what to fix, one line each (no Flask here).

Each check returns a list of findings. A problem makes `tipline doctor` exit
1; a warning is printed but does not. What is checked:

- the data folder's layout, which keeps the source app from the journalists'
  secrets (tipline.ops.doctor_layout): owners and modes, each app's private
  folder closed to the other app's user, accounts database apart from the
  submissions database, and (--units) the units' User= and InaccessiblePaths=;
- at least one active recipient key, and every key file readable;
- no private key anywhere in the data folder (a *.key file, or a file
  containing "tipline-sec1-");
- at least one journalist account in the accounts database, each with a TOTP
  secret, and none left in the submissions database from before the separation;
- both databases at this code's schema revision: a pending migration names
  `tipline upgrade` (tipline.ops.doctor_schema);
- settings: they load, bind is loopback or a unix socket, onion_address set;
- the newsroom's own page ([newsroom]): known keys and languages, plain text within
  its limits, logos that are PNG, JPEG or WebP by their bytes (tipline.ops.doctor_newsroom);
- a gunicorn config (--gunicorn-conf): no access log, no debug logging,
  loopback bind;
- a torrc (--torrc, tipline.ops.doctor_torrc): onion services forward to loopback only, each has
  HiddenServicePoWDefensesEnabled 1, no TCP SocksPort (only deploy/torrc's unix
  socket for `tipline notify`, never world-writable), SafeLogging 1 (or unset),
  no single-hop mode, and the journalist service (the HiddenServiceDir whose
  name contains "journalist") has client authorization files, and the
  running tor, asked over the torrc's ControlSocket, really enforces client
  authorization on it (tipline.ops.doctor_tor);
- notifications ([notify], tipline.ops.doctor_notify): through Tor's SOCKS socket
  unless route = "direct" (a warning), tipline-notify.service the only unit
  that may send, the SMTP password file 0600, SMTP never plain.
"""

from __future__ import annotations

import os
import runpy
from collections.abc import Callable, Iterator
from pathlib import Path

from tipline.config import ConfigError, Settings, is_loopback_bind, load_settings
from tipline.format.keys import SECRET_PREFIX, PublicKey
from tipline.ops.doctor_findings import PROBLEM, WARNING, Finding, problem, warning
from tipline.ops.doctor_torrc import check_torrc

# Re-exported for the other checks and the CLI, which import them from here.
__all__ = ["PROBLEM", "WARNING", "Finding", "check_torrc", "problem", "run_checks", "warning"]

# Secret-key scan: files in store/ are envelopes (ciphertext), so only their
# first bytes are read; elsewhere up to 1 MiB of each file.
SCAN_STORE_BYTES = 4096
SCAN_BYTES = 1024 * 1024


# -- binds ----------------------------------------------------------------------------


def bind_finding(bind: str, where: str) -> Finding | None:
    if is_loopback_bind(bind):
        return None
    return problem(
        f"{where}: bind is {bind!r}, not loopback, but the apps must be reachable only through Tor. "
        "Fix: 127.0.0.1:PORT or unix:/path."
    )


# -- keys -----------------------------------------------------------------------------


def check_keys(settings: Settings) -> list[Finding]:
    out: list[Finding] = []
    active = 0
    for folder in (settings.keys_dir, settings.keys_dir / "retired"):
        if not folder.is_dir():
            continue
        for p in sorted(folder.glob("*.pub")):
            try:
                PublicKey.from_text(p.read_text("utf-8"))
            except Exception as e:  # OSError, UnicodeDecodeError, KeyFileError: all mean the same here
                out.append(
                    problem(f"The key file {p} is unreadable or damaged ({e}). Fix: replace or remove it.")
                )
                continue
            active += folder == settings.keys_dir
    if not active:
        out.append(
            problem(
                f"No active recipient key in {settings.keys_dir}: tips cannot be encrypted. "
                f"Fix: tipline keys add --data-dir {settings.data_dir} journalist.pub"
            )
        )
    return out


def _scan_files(root: Path) -> Iterator[tuple[Path, int]]:
    store = root / "store"

    def cannot_list(e: OSError) -> None:
        raise e  # reported by run_checks: a folder the doctor cannot list might hide a key

    for dirpath, _dirs, names in os.walk(root, onerror=cannot_list, followlinks=False):
        limit = SCAN_STORE_BYTES if Path(dirpath).is_relative_to(store) else SCAN_BYTES
        for name in names:
            yield Path(dirpath) / name, limit


def check_no_secret_keys(data_dir: Path) -> list[Finding]:
    if not data_dir.is_dir():
        return []
    out = []
    marker = SECRET_PREFIX.encode()
    for path, limit in _scan_files(data_dir):
        why = None
        # journalist/totp.key (TOTP secrets at rest) and source/session.key (the source's session
        # cookies) are the apps' own symmetric keys, made at start, not anyone's private key.
        own = (data_dir / "journalist" / "totp.key", data_dir / "source" / "session.key")
        if path.name.lower().endswith(".key") and path not in own:
            why = "a .key file"
        elif not path.is_symlink() and path.is_file():
            try:
                with path.open("rb") as f:
                    if marker in f.read(limit):
                        why = f"it contains {SECRET_PREFIX!r}"
            except OSError as e:
                out.append(warning(f"Cannot read {path} to check it is not a private key ({e.strerror})."))
        if why:
            out.append(
                problem(
                    f"{path} looks like a private key ({why}). Private keys must never be on the server: "
                    f"keep it on the offline machine only, and delete it here (shred -u {path})."
                )
            )
    return out


# -- database -------------------------------------------------------------------------


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for another database (or an in-memory one)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if not u.drivername.startswith("sqlite") or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _closed_wal(db: Path) -> bool:
    """A database file in WAL mode (header bytes 18-19 are 2) with no -wal file beside it."""
    try:
        with open(db, "rb") as f:
            head = f.read(20)
    except OSError:
        return False
    return head[18:20] == b"\x02\x02" and not db.with_name(db.name + "-wal").exists()


def read_only_engine(url: str):
    """An engine that reads the database at URL and makes no file (see _journalist_rows)."""
    from sqlalchemy import create_engine

    db = sqlite_path(url)
    if db is not None:
        immutable = "&immutable=1" if _closed_wal(db) else ""
        return create_engine(f"sqlite:///file:{db}?mode=ro{immutable}&uri=true")
    return create_engine(url, pool_pre_ping=True)


def _journalist_rows(url: str) -> list[tuple[str, str]] | None:
    """(name, TOTP secret) of each journalist in the database at URL; None if it has no such table.

    Read only, and no new files: a -wal or -shm made by whoever runs the doctor (root)
    would lock the service out. A rollback-journal database (what Tipline now makes)
    opens read-only as it is, taking SQLite's locks, so a write in progress is not
    misread; only a database still in WAL mode whose -wal is gone (no process has it
    open, the main file is complete) needs immutable=1 to open without making a -shm."""
    from sqlalchemy import inspect, text

    engine = read_only_engine(url)
    try:
        with engine.connect() as c:
            if not inspect(c).has_table("journalists"):
                return None
            columns = {col["name"] for col in inspect(c).get_columns("journalists")}
            # A table without the column (another schema) still counts its accounts.
            query = (
                "SELECT name, totp_secret FROM journalists ORDER BY name"
                if "totp_secret" in columns
                else "SELECT name, name FROM journalists ORDER BY name"
            )
            return [tuple(r) for r in c.execute(text(query))]
    finally:
        engine.dispose()


def check_journalists(settings: Settings) -> list[Finding]:
    add = f"Fix: tipline journalist add NAME --data-dir {settings.data_dir}"
    url = settings.accounts_db_url
    out: list[Finding] = []
    db = sqlite_path(url)
    try:
        if db is not None and not db.exists():
            rows = None
            out.append(problem(f"No accounts database at {db}, so no journalist account. {add}"))
        else:
            rows = _journalist_rows(url)
        submissions = settings.db_url
        old = None
        sdb = sqlite_path(submissions)
        if sdb is None or sdb.exists():
            old = _journalist_rows(submissions) if submissions != url else None
    except Exception as e:  # any driver error: report it, do not crash the doctor
        return [problem(f"Cannot read the database ({type(e).__name__}: {getattr(e, 'orig', e)}).")]
    if old:
        out.append(
            problem(
                f"The submissions database still holds {len(old)} journalist account(s) from before the "
                "apps were separated, where the source app can read them. Fix: tipline upgrade "
                f"--data-dir {settings.data_dir}, which moves them into the accounts database (or, if "
                "it has its own, drops them): docs/upgrades.md."
            )
        )
    if (rows is None and not out) or (rows is not None and not rows):
        out.append(problem(f"No journalist account yet. {add}"))
    out += [
        problem(f"Journalist {name} has no TOTP secret. Fix: tipline journalist reset-totp {name}")
        for name, secret in rows or []
        if not (secret or "").strip()
    ]
    return out


# -- settings and gunicorn ------------------------------------------------------------


def check_settings(settings: Settings) -> list[Finding]:
    out = []
    f = bind_finding(settings.bind, "Settings (tipline.toml or TIPLINE_BIND)")
    if f:
        out.append(f)
    if not settings.onion_address:
        out.append(
            warning(
                "onion_address is not set. Set it in tipline.toml to the source service's address "
                "(cat /var/lib/tor/tipline-source/hostname), so Tor Browser gets an Onion-Location header."
            )
        )
    return out


def check_gunicorn_conf(path: Path, data_dir: Path) -> list[Finding]:
    """Load a gunicorn config as gunicorn would (it is Python) and check its logging and bind."""
    saved = os.environ.get("TIPLINE_DATA_DIR")
    os.environ["TIPLINE_DATA_DIR"] = str(data_dir)
    try:
        ns = runpy.run_path(str(path))
    except SystemExit as e:
        return [problem(f"The gunicorn config {path} refuses to load: {e}")]
    except Exception as e:
        return [problem(f"The gunicorn config {path} fails to load ({type(e).__name__}: {e}).")]
    finally:
        if saved is None:
            os.environ.pop("TIPLINE_DATA_DIR", None)
        else:
            os.environ["TIPLINE_DATA_DIR"] = saved
    out = []
    if ns.get("accesslog") is not None:
        out.append(
            problem(
                f"{path} sets accesslog = {ns['accesslog']!r}: an access log records every request. "
                "Fix: accesslog = None"
            )
        )
    if str(ns.get("loglevel", "info")).lower() == "debug":
        out.append(problem(f"{path} sets loglevel = 'debug', which logs client addresses. Fix: 'info'"))
    binds = ns.get("bind", [])
    for b in [binds] if isinstance(binds, str) else binds:
        f = bind_finding(str(b), str(path))
        if f:
            out.append(f)
    return out


# -- all together ---------------------------------------------------------------------


def run_checks(
    data_dir: Path | None,
    *,
    config: Path | None = None,
    torrc: Path | None = None,
    gunicorn_conf: Path | None = None,
    units: Path | None = None,
    source_user: str = "tipline-source",
    journalist_user: str = "tipline-journalist",
    group: str = "tipline",
) -> list[Finding]:
    from tipline.ops.doctor_layout import People, check_databases, check_layout, check_units
    from tipline.ops.doctor_newsroom import check_newsroom
    from tipline.ops.doctor_schema import check_schemas

    people = People.look_up(source_user, journalist_user, group)
    missing = people if isinstance(people, list) else []  # then the layout cannot be judged
    try:
        settings = load_settings(data_dir, config_file=config)
        has_dir = settings.data_dir.is_dir()
    except ConfigError as e:
        return [problem(f"The settings do not load: {e}")]
    except OSError as e:
        return [_unreadable(e)]
    checks: list[tuple[Callable[..., list[Finding]], tuple]] = [(check_databases, (settings,))]
    if not missing:
        checks.insert(0, (check_layout, (settings, people)))
    if has_dir:
        checks += [
            (check_keys, (settings,)),
            (check_no_secret_keys, (settings.data_dir,)),
            (check_journalists, (settings,)),
            (check_schemas, (settings,)),
        ]
    checks += [(check_settings, (settings,)), (check_newsroom, (settings,))]
    if units is not None and not missing:
        checks.append((check_units, (units, people, settings.data_dir)))
    if gunicorn_conf is not None:
        checks.append((check_gunicorn_conf, (gunicorn_conf, settings.data_dir)))
    if torrc is not None:
        checks.append((check_torrc, (torrc,)))
    from tipline.ops.doctor_notify import check_notify

    notify_args = (config or settings.data_dir / "tipline.toml", torrc, units, journalist_user)
    checks.append((check_notify, notify_args))
    out: list[Finding] = list(missing)
    for check, args in checks:
        try:
            out += check(*args)
        except OSError as e:  # a folder this user may not enter: say so, and go on with the rest
            out.append(_unreadable(e))
    return out


def _unreadable(e: OSError) -> Finding:
    return problem(
        f"Cannot check {e.filename or 'the data folder'} ({e.strerror}). Run tipline doctor as root: "
        "it reads both apps' private folders, and changes nothing."
    )
