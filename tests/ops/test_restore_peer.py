"""`tipline backup` and `tipline restore` on PostgreSQL as docs/install.md sets it up: peer authentication.

Root runs both, with settings whose URLs name no user (install.md's); pg_dump
and psql must then run as the databases' owner, the journalist app's system
user (runuser), whom the server lets in over its unix socket because the OS
says who connects. Real system users (tests/deploy/test_doctor.py's `people`,
named tipline-t-* so as not to touch a real install's), a private server whose
pg_hba.conf has only peer lines, install.md's SQL run as written (with those
users' names) by the postgres user. After the restore: the tables are the
owner's, every tip decrypts with the real tipline-offline, the journalist logs
in to the real journalist app, and the source role reads its version table.

Only the checks after the restore connect as root: pg_ident.conf maps root to
the journalist's role for them, so that the export and the app need no runuser.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import export_and_decrypt, run_tipline, submission_folders
from tests.deploy.test_doctor import GROUP, JOUR, SRC, people  # noqa: F401 (a fixture: install.md's users)
from tests.ops.test_install_postgres import doc_sql
from tests.postgres import server
from tests.store.conversation_helpers import Source, first_tip, open_store
from tests.web.logins import PASSPHRASE
from tests.web.newsroom import login
from tests.web.server import Server, free_port, make_server
from tipline.config import load_settings
from tipline.store.keyring import Keyring

pytestmark = pytest.mark.slow

HBA = "local all postgres peer\nlocal all all peer map=tests\n"
# The regex line is peer's own rule (a user is its own role); the first is for the checks only.
IDENT = f"tests root {JOUR}\ntests /^(.*)$ \\1\n"
TIPS = ["a tip backed up through peer authentication", "another, with its own conversation"]


def as_written(sql: str) -> str:
    """install.md's SQL with this test's users in place of tipline-source and tipline-journalist."""
    return sql.replace('"tipline-source"', f'"{SRC}"').replace('"tipline-journalist"', f'"{JOUR}"')


def psql(base: Path, port: int, sql: str, database: str = "postgres") -> None:
    """As docs/install.md runs it: `runuser -u postgres -- psql ... <<'SQL'`."""
    cmd = ["runuser", "-u", "postgres", "--", "psql", "-h", str(base), "-p", str(port), "-d", database]
    subprocess.run([*cmd, "-X", "-q", "-v", "ON_ERROR_STOP=1"], input=sql, text=True, check=True)


def settings_toml(base: Path, port: int, submissions: str, accounts: str, user: str = "") -> str:
    """install.md's two URLs (this server's socket and port); `user` only for the checks as root."""
    at = f"{user}@" if user else ""
    url = f"postgresql+psycopg://{at}/{{}}?host={base}&port={port}"
    return f'database_url = "{url.format(submissions)}"\naccounts_database_url = "{url.format(accounts)}"\n'


@pytest.fixture(scope="module")
def peer():
    with server(superuser="postgres", hba=HBA, ident=IDENT) as (base, port):
        yield base, port


def fill(data: Path, tmp: Path, toml_as_root: str) -> pyotp.TOTP:
    """Tables, a journalist (ana) and TIPS in the live install, through the journalist's role."""
    (data / "tipline.toml").write_text(toml_as_root)
    run_tipline("upgrade", "--data-dir", str(data))
    (tmp / "pw").write_text(PASSPHRASE + "\n")
    out = run_tipline(
        "journalist", "add", "ana", "--data-dir", str(data), "--passphrase-file", str(tmp / "pw")
    )
    totp = pyotp.parse_uri(next(x for x in out.stdout.splitlines() if x.startswith("otpauth://")))
    settings = load_settings(data)
    convs = open_store(settings.db_url, settings.store_dir)
    key = Keyring(settings.keys_dir).active()[0]
    for tip in TIPS:
        first_tip(convs, key, Source.new(), tip)
    convs.store.sessions.kw["bind"].dispose()
    return totp


def test_root_backs_up_and_restores_postgres_through_peer_authentication(peer, people, tmp_path, keydir):  # noqa: F811
    base, port = peer
    roles, grants = doc_sql()
    psql(base, port, as_written(roles))  # the roles, and the fresh install's two databases
    psql(base, port, f'CREATE DATABASE live_submissions OWNER "{JOUR}";\n')
    psql(base, port, f'CREATE DATABASE live_accounts OWNER "{JOUR}";\n')
    live = make_server(tmp_path / "live", keydir / "journalist.pub")
    totp = fill(live.data_dir, tmp_path, settings_toml(base, port, "live_submissions", "live_accounts", JOUR))

    # The backup as root, with install.md's URLs: pg_dump runs as the owner.
    live.data_dir.joinpath("tipline.toml").write_text(
        settings_toml(base, port, "live_submissions", "live_accounts")
    )
    backup = tmp_path / "backups" / "tipline.backup"
    backup.parent.mkdir()
    made = run_tipline(
        "backup",
        "--data-dir",
        str(live.data_dir),
        "--out",
        str(backup),
        "--journalist-user",
        JOUR,
        check=False,
    )
    assert made.returncode == 0, made.stderr

    # A fresh install as install.md makes it (its databases made above), the tables made by their owner.
    target = make_server(tmp_path / "restored", keydir / "journalist.pub")
    (target.data_dir / "tipline.toml").write_text(
        settings_toml(base, port, "tipline_submissions", "tipline_accounts", JOUR)
    )
    run_tipline("upgrade", "--data-dir", str(target.data_dir))
    (target.data_dir / "tipline.toml").write_text(
        settings_toml(base, port, "tipline_submissions", "tipline_accounts")
    )
    people_flags = ["--source-user", SRC, "--journalist-user", JOUR, "--group", GROUP]
    r = run_tipline("restore", str(backup), "--data-dir", str(target.data_dir), *people_flags, check=False)
    assert r.returncode == 0 and r.stdout.startswith(f"Restored {backup}"), r.stdout + r.stderr
    assert "GRANT" in r.stdout
    psql(base, port, as_written(grants), "tipline_submissions")

    # The checks, as root through pg_ident.conf's map.
    checks = settings_toml(base, port, "tipline_submissions", "tipline_accounts", JOUR)
    (target.data_dir / "tipline.toml").write_text(checks)
    owner_url = re.search(r'database_url = "(.*?)"', checks).group(1)
    engine = create_engine(owner_url)
    with engine.connect() as con:
        owners = set(
            con.execute(text("select tableowner from pg_tables where schemaname = 'public'")).scalars()
        )
    engine.dispose()
    assert owners == {JOUR}
    out = export_and_decrypt(target.data_dir, keydir, tmp_path / "work")
    texts = sorted((d / "message.txt").read_text() for d in submission_folders(out).values())
    assert texts == sorted(TIPS)
    j = Server(target.data_dir, target.tmp_dir, tmp_path / "j.log", free_port())
    j.start("--app", "journalist")
    try:
        login(j, "ana", totp)
    finally:
        j.stop()
    source = subprocess.run(
        ["runuser", "-u", SRC, "--", "psql", "-h", str(base), "-p", str(port), "-d", "tipline_submissions",
         "-X", "-A", "-t", "-c", "select version_num from alembic_version_submissions"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert source.returncode == 0 and source.stdout.strip() == "sub04_status", source.stderr
