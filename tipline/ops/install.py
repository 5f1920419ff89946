"""`tipline install`: from a Debian server with Tipline's package to a running onion tip line, as root.

It does what docs/install.md once listed as ten steps by hand: the two users
and their group, the data folder with the owners and modes of "Who can read
what", the torrc, units and timers, the newsroom's name and the source
address in tipline.toml; then tor, the apps and the timers started, and the
doctor's checks. Idempotent: every step compares first and changes only what
differs, so a second run changes nothing and says so.

`root` puts every file under another folder (the tests' fake root); users,
systemctl and tor are always this machine's, and start() runs only on "/".
"""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tipline import __version__
from tipline.ops import install_files as files
from tipline.ops import install_services as services
from tipline.ops.install_layout import (
    GROUP,
    JOURNALIST_USER,
    InstallError,
    ensure_layout,
    ensure_people,
    give_private_files_to_owner,
    layout,
)
from tipline.ops.install_toml import updated

STAMP = Path("/etc/tipline/installed-version")  # which version last installed: a change restarts the apps


@dataclass(frozen=True)
class Options:
    org: str
    data_dir: Path = files.DEFAULT_DATA_DIR
    keys: tuple[Path, ...] = ()
    root: Path = Path("/")


@dataclass
class Outcome:
    """What a run changed, and what start() needs to know of it."""

    changes: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    settings_changed: bool = False
    upgraded: bool = False
    addresses: dict[str, str] = field(default_factory=dict)
    apps_started: bool = False
    findings: list = field(default_factory=list)


def check_org(org: str) -> None:
    """The name as `tipline serve` checks [newsroom] name (tipline/newsroom.py), and not empty."""
    from tipline.newsroom import NewsroomError, load
    from tipline.web.i18n import available

    if not org.strip():
        raise InstallError('--org: give the newsroom\'s name, e.g. --org "The Daily Example".', 2)
    try:
        load({"name": org}, available("source"))
    except NewsroomError as e:
        raise InstallError("--org: the name " + str(e).removeprefix("[newsroom] name "), 2) from None


def check_machine(root: Path = Path("/")) -> None:
    """Refuse, before changing anything, a machine this cannot install on."""
    if os.geteuid() != 0:
        raise InstallError("tipline install must run as root: it makes users and writes to /etc.", 2)
    if not (root / "run/systemd/system").is_dir():
        raise InstallError(
            "This machine does not run systemd, which starts Tipline's services: use a Debian server booted "
            "with systemd.",
            2,
        )
    if not (shutil.which("tor") or (root / "usr/bin/tor").exists()):
        raise InstallError("tor is not installed: apt-get install tor, then run tipline install again.", 2)


def _settings(data: Path):
    """The settings from DATA/tipline.toml alone: the services read that file, not this shell's variables."""
    from tipline.config import ConfigError, load_settings

    try:
        return load_settings(data, environ={})
    except ConfigError as e:
        raise InstallError(f"The settings do not load: {e}", 2) from None


def _db_files(settings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The SQLite files to make in advance, relative to the data folder: the submissions database's
    (with its journal), and the accounts database, for each that is SQLite inside the data folder."""
    from tipline.ops.doctor import sqlite_path

    found: list[tuple[str, ...]] = []
    for url, journal in ((settings.db_url, True), (settings.accounts_db_url, False)):
        db = sqlite_path(url)
        if db is None or not db.is_relative_to(settings.data_dir):
            found.append(())
            continue
        name = str(db.relative_to(settings.data_dir))
        found.append((name, name + "-journal") if journal else (name,))
    return found[0], found[1]


def write_settings(opts: Options, onion: str | None, out: Outcome) -> None:
    """tipline.toml with the newsroom's name (and the source address, once tor has made it)."""
    path = files.at(opts.root, opts.data_dir / "tipline.toml")
    text = path.read_text("utf-8")
    new = updated(text, onion, opts.org)
    if new != text:
        old = tomllib.loads(text)
        what = [] if onion is None or old.get("onion_address") == onion else ["onion_address"]
        what += [] if old.get("newsroom", {}).get("name") == opts.org else ["[newsroom] name"]
        files.write_atomically(path, new.encode("utf-8"), 0o640, 0, grp.getgrnam(GROUP).gr_gid)
        out.changes.append(f"set {' and '.join(what)} in {opts.data_dir / 'tipline.toml'}")
        out.settings_changed = True


def read_keys(paths: tuple[Path, ...]) -> list:
    """The --key files as public keys; one that is not is refused before anything changes."""
    from tipline.format.keys import KeyFileError, PublicKey

    keys = []
    for f in paths:
        try:
            keys.append(PublicKey.from_text(f.read_text("utf-8")))
        except (OSError, UnicodeDecodeError, KeyFileError) as e:
            raise InstallError(
                f"--key {f}: not a public key file made by tipline-offline keygen ({e}).", 2
            ) from None
    return keys


def check_inputs(opts: Options) -> None:
    """The keys and an existing tipline.toml (root's to read), checked before anything is changed."""
    read_keys(opts.keys)
    toml = files.at(opts.root, opts.data_dir / "tipline.toml")
    if toml.is_file():
        _settings(toml.parent)
        updated(toml.read_text("utf-8"), None, opts.org)


def add_keys(opts: Options, data: Path, out: Outcome) -> None:
    """Each --key, unless it is already active; compare the fingerprints printed with the journalists."""
    from tipline.store.keyring import Keyring, KeyringError, compact

    ring = Keyring(data / "keys")
    for f, key in zip(opts.keys, read_keys(opts.keys), strict=True):
        if (data / "keys" / f"{compact(key.fingerprint)}.pub").exists():
            continue
        try:
            ring.add(key.to_text())
        except KeyringError as e:
            raise InstallError(f"--key {f}: {e}", 2) from None
        out.changes.append(f"added the key {key.fingerprint} (compare it with the journalist's)")


def schemas_current(settings) -> bool:
    """Whether both databases exist at this code's head revision, read without writing: then
    `tipline upgrade` has nothing to do, and is not run (it would open a write transaction)."""
    from tipline.ops.doctor import read_only_engine, sqlite_path
    from tipline.store.schema import ACCOUNTS, SUBMISSIONS, State, status

    for which, url in ((SUBMISSIONS, settings.db_url), (ACCOUNTS, settings.accounts_db_url)):
        db = sqlite_path(url)
        if db is not None and not db.exists():
            return False
        engine = read_only_engine(url)
        try:
            if status(engine, which).state is not State.CURRENT:
                return False
        except Exception:  # any driver error: let tipline upgrade say what it is
            return False
        finally:
            engine.dispose()
    return True


def run_upgrade(data_dir: Path, changes: list[str], as_owner: bool = False) -> None:
    """`tipline upgrade --data-dir DIR` (tipline/ops/upgrade.py): the schema migrations of both databases,
    after the folders are made and before the apps start. What it did goes in CHANGES, unless nothing.

    As root for SQLite (it reads both apps' folders; what it makes is handed to their owners after);
    AS_OWNER, as the journalist app's user, for PostgreSQL: that role owns the tables, and root has
    no role (peer authentication, docs/install.md)."""
    cmd = [sys.executable, "-m", "tipline.cli", "upgrade", "--data-dir", str(data_dir)]
    if as_owner:
        cmd = ["runuser", "-u", JOURNALIST_USER, "--", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if r.returncode != 0:
        why = (r.stderr or r.stdout).strip().splitlines()[-1:] or [f"exit {r.returncode}"]
        raise InstallError(
            f"`tipline upgrade --data-dir {data_dir}` failed: {why[0].removeprefix('tipline: ')}"
        )
    changes += [ln for ln in r.stdout.splitlines() if ln.strip() and "already up to date" not in ln]


def prepare(opts: Options, stop_apps: Callable[[list[str]], None] | None = None) -> Outcome:
    """Users, folders, settings, keys, files and the migrations: everything but starting the services.
    Works on a fake root. STOP_APPS is called before migrating when the installed version changed."""
    out = Outcome()
    data = files.at(opts.root, opts.data_dir)
    ensure_people(out.changes)
    ensure_layout(data, layout((), ()), out.changes)  # tipline.toml first, so the settings can load
    settings = _settings(data)
    write_settings(opts, None, out)
    add_keys(opts, data, out)
    ensure_layout(data, layout(*_db_files(settings)), out.changes)  # and the keys 0640
    direct = str(settings.notify.get("route", "tor")) == "direct"
    out.written = files.install_files(opts.root, files.planned(opts.data_dir, direct), out.changes)
    if not direct and files.remove_drop_in(opts.root, out.changes):
        out.written.append(files.DROP_IN)
    stamp = files.at(opts.root, STAMP)
    before = stamp.read_text("utf-8").strip() if stamp.exists() else None
    out.upgraded = before is not None and before != __version__
    if out.upgraded and stop_apps is not None:  # the old code must not write while the schema changes
        stop_apps(out.changes)
    if not schemas_current(settings):
        from tipline.ops.doctor import sqlite_path

        run_upgrade(data, out.changes, as_owner=sqlite_path(settings.db_url) is None)
    give_private_files_to_owner(data, out.changes)
    return out


def start(opts: Options, out: Outcome) -> None:
    """systemd: reload, tor, wait for the addresses, the apps (when a key is in), the timers, the doctor."""
    from tipline.store.keyring import Keyring, KeyringError

    units = {p.name for p in out.written if p.parent in (files.UNIT_DIR, files.DROP_IN.parent)}
    if units:
        services.systemctl("daemon-reload")
    services.converge((services.TOR,), files.TORRC in out.written, out.changes)
    out.addresses = services.wait_for_hostnames()
    write_settings(opts, out.addresses["source"], out)
    restart_apps = (
        out.settings_changed
        or out.upgraded
        or files.GUNICORN_CONF in out.written
        or bool(units & set(services.APPS))
    )
    try:
        have_key = bool(Keyring(files.at(opts.root, opts.data_dir) / "keys").active())
    except KeyringError as e:
        raise InstallError(f"{e} Then run tipline install again.") from None
    if have_key:
        services.converge(services.APPS, restart_apps, out.changes)
        out.apps_started = True
    services.converge(services.TIMERS, bool(units & set(services.TIMERS)), out.changes)
    files.install_files(opts.root, [files.Planned(STAMP, f"{__version__}\n".encode())], out.changes)
    if out.changes and out.changes[-1] == f"wrote {STAMP}":
        out.changes.pop()  # the record of this run, not a change of its own
    from tipline.ops.doctor import run_checks

    out.findings = run_checks(
        opts.data_dir, torrc=files.TORRC, gunicorn_conf=files.GUNICORN_CONF, units=files.UNIT_DIR
    )


def install(opts: Options) -> Outcome:
    """Refuse what cannot be installed, before any change; then prepare and start."""
    check_org(opts.org)
    check_machine(opts.root)
    check_inputs(opts)
    out = prepare(opts, services.stop_apps)
    start(opts, out)
    return out
