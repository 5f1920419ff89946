"""What refuses another schema, and what it says: the apps, the doctor, and tipline upgrade itself.

One install filled by 4fd8b02's code (tests/ops/historic.py), made once
(tests/ops/conftest.py's `template`) and copied for each test: an older
schema (from before migrations), a pending revision, a newer one, a second
upgrade, and an upgrade run by root on the layout of docs/install.md.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_tipline
from tests.deploy.common import DEPLOY, VENV_BIN, free_port
from tests.deploy.test_doctor import GROUP, JOUR, SRC, people  # noqa: F401 (a fixture: install.md's users)
from tipline.store.schema import NEWER, VERSION_TABLES

pytestmark = pytest.mark.slow


def contents(data: Path, times: bool = True) -> dict[str, str]:
    """Every file's bytes (as a hash) and times: what "changes nothing" must leave as it was."""
    return {
        str(p.relative_to(data)): hashlib.sha256(p.read_bytes()).hexdigest()
        + (f" {p.stat().st_mtime_ns}" if times else "")
        for p in sorted(data.rglob("*"))
        if p.is_file()
    }


def gunicorn(app: str, data: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    env |= {"TIPLINE_APP": app, "TIPLINE_DATA_DIR": str(data), "TIPLINE_BIND": f"127.0.0.1:{free_port()}"}
    return subprocess.run(
        [str(VENV_BIN / "gunicorn"), "-c", str(DEPLOY / "gunicorn.conf.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=data.parent,
        timeout=120,
    )


def serve(app: str, data: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tipline.cli", "serve", "--app", app, "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def refused_with(line: str, *runs: subprocess.CompletedProcess) -> None:
    """Each run stopped with exit 2 and said LINE, on one line, with no traceback."""
    for r in runs:
        out = r.stdout + r.stderr
        assert r.returncode == 2, out
        assert f"tipline: {line}" in out.splitlines(), out
        assert "Traceback" not in out and "Listening at" not in out, out


def test_the_apps_refuse_a_database_from_before_migrations_and_say_to_run_the_upgrade(data):
    line = (
        "The submissions database was made by a Tipline from before schema migrations: a migration "
        f"is pending, run tipline upgrade --data-dir {data} (after a backup: docs/upgrades.md)"
    )
    before = contents(data)
    refused_with(line, gunicorn("source", data), gunicorn("journalist", data))
    refused_with(line, serve("source", data), serve("journalist", data))
    assert contents(data) == before  # refused before opening anything to write: not even a journal mode
    doctor = run_tipline("doctor", "--data-dir", str(data), check=False)
    assert doctor.returncode == 1 and f"problem: {line}" in doctor.stdout.splitlines(), doctor.stdout
    assert (
        "The submissions database: made before schema migrations"
        in run_tipline("upgrade", "--data-dir", str(data)).stdout
    )
    after = run_tipline("doctor", "--data-dir", str(data), check=False).stdout
    assert "schema migrations" not in after and "schema revision" not in after, after


def at_revision(data: Path, revision: str, which: str = "submissions") -> None:
    """Move a database's version row to REVISION (a future one: no version has it yet)."""
    db = data / ("tipline.sqlite3" if which == "submissions" else "journalist/accounts.db")
    con = sqlite3.connect(db)
    con.execute(f"UPDATE {VERSION_TABLES[which]} SET version_num = ?", (revision,))
    con.commit()
    con.close()


def test_a_pending_revision_is_named_by_the_doctor_and_the_apps_and_upgraded(tmp_path):
    """A database really at an older revision: Alembic takes a new one to sub03 only."""
    from alembic import command

    from tipline.store.migrate import _alembic_config, upgrade_engine

    data = tmp_path / "data"
    engine = upgrade_engine(f"sqlite:///{data / 'tipline.sqlite3'}", 0o660)
    with engine.connect() as con, con.begin():
        command.upgrade(_alembic_config("submissions", con), "sub03_conversations")
    engine.dispose()
    line = (
        "The submissions database is at schema revision sub03_conversations, older than this code's "
        f"(sub04_status): a migration is pending, run tipline upgrade --data-dir {data} "
        "(after a backup: docs/upgrades.md)"
    )
    doctor = run_tipline("doctor", "--data-dir", str(data), check=False)
    assert f"problem: {line}" in doctor.stdout.splitlines(), doctor.stdout
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tipline.cli",
            "export",
            "--data-dir",
            str(data),
            "--out",
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
    )
    refused_with(line, r)  # every command that opens the database, not only the apps
    assert run_tipline("upgrade", "--data-dir", str(data)).stdout.splitlines()[1] == (
        "The submissions database: upgraded from sub03_conversations to sub04_status."
    )


def test_a_newer_schema_is_refused_by_the_apps_and_by_the_upgrade_which_never_downgrades(data):
    run_tipline("upgrade", "--data-dir", str(data))
    at_revision(data, "sub99_from_a_newer_tipline")
    before = contents(data, times=False)  # a refusal may still round a time to the hour
    line = f"The submissions database has schema revision sub99_from_a_newer_tipline: {NEWER}."
    refused_with(line, gunicorn("source", data), serve("journalist", data))
    refused_with(line, run_tipline("upgrade", "--data-dir", str(data), check=False))
    assert contents(data, times=False) == before  # nor was the accounts database: nothing changed
    assert "downgrade" not in run_tipline("--help").stdout
    # The accounts database of a newer version stops the journalist app, which opens it.
    at_revision(data, "sub04_status")
    at_revision(data, "acc99_from_a_newer_tipline", "accounts")
    line = f"The accounts database has schema revision acc99_from_a_newer_tipline: {NEWER}."
    upgrade = run_tipline("upgrade", "--data-dir", str(data), check=False)
    refused_with(line, serve("journalist", data), upgrade)


def test_a_second_upgrade_changes_nothing(data):
    run_tipline("upgrade", "--data-dir", str(data))
    before = contents(data)
    again = run_tipline("upgrade", "--data-dir", str(data)).stdout
    assert again.count("already up to date") == 2, again
    assert contents(data) == before


def test_run_by_root_on_the_install_layout_every_file_stays_its_apps(data, people):  # noqa: F811
    """As `tipline install` runs it: root, on docs/install.md's owners. Nothing left to root in an app's
    folder (SQLite makes a journal as the database's owner; the new accounts.db and totp.key go to
    journalist/'s owner), so each app can still open its files."""
    from tipline.config import load_settings
    from tipline.ops.doctor_layout import People, check_layout

    src, jour, gid = people
    os.chown(data, 0, gid)
    os.chmod(data, 0o2770)
    for folder, owner in (("journalist", jour), ("source", src)):
        (data / folder).mkdir(exist_ok=True)
        os.chown(data / folder, owner, gid)
        os.chmod(data / folder, 0o700)  # as install -d -m 0700 does: no setgid from the parent
    db = data / "tipline.sqlite3"
    for f in (db, Path(f"{db}-journal"), Path(f"{db}-wal"), Path(f"{db}-shm")):
        if f.exists() or f.name.endswith("-journal"):
            f.touch()
            os.chown(f, src, gid)
            os.chmod(f, 0o660)
    lines = run_tipline("upgrade", "--data-dir", str(data)).stdout
    assert "moved 2 journalist(s)" in lines, lines
    made = sorted(p.name for p in (data / "journalist").iterdir())
    assert made == ["accounts.db", "accounts.db-journal", "totp.key"], made
    for p in (data / "journalist").iterdir():
        assert (p.stat().st_uid, p.stat().st_mode & 0o077) == (jour, 0), p
    for p in data.glob("tipline.sqlite3*"):
        assert (p.stat().st_uid, p.stat().st_gid) == (src, gid), p
    settings = load_settings(data)
    findings = [str(f) for f in check_layout(settings, People.look_up(SRC, JOUR, GROUP))]
    ours = (f"problem: {data}/journalist", f"problem: {data}/tipline.sqlite3")
    about_databases = [f for f in findings if f.startswith(ours)]
    assert about_databases == []


def test_on_a_new_install_the_upgrade_leaves_making_the_databases_to_the_apps(tmp_path):
    """Run before the first start (as root, by tipline install): no file it would own instead of the app."""
    data = tmp_path / "data"
    data.mkdir()
    lines = run_tipline("upgrade", "--data-dir", str(data)).stdout.splitlines()
    assert lines == [
        f"The accounts database: none yet at {data}/journalist/accounts.db; the app makes it, at schema "
        "revision acc03_notify_addresses, when it first starts.",
        f"The submissions database: none yet at {data}/tipline.sqlite3; the app makes it, at schema "
        "revision sub04_status, when it first starts.",
    ]
    assert list(data.iterdir()) == []
    (data / "tipline.sqlite3").touch()  # as docs/install.md makes it, owned by the source app's user
    made = run_tipline("upgrade", "--data-dir", str(data)).stdout.splitlines()[1]
    assert made == "The submissions database: made, at schema revision sub04_status."
