"""The same store and apps on PostgreSQL: a private server started for these tests."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import text

from tests.conftest import unavailable
from tests.web.conftest import export_and_decrypt  # noqa: F401 (a fixture)
from tests.web.server import free_port, make_server
from tipline.store.accounts import Accounts, LoginRefused
from tipline.store.db import make_engine, make_sessions


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root, a laptop usually not.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def pg_url():
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        unavailable("PostgreSQL server binaries are not installed (apt-get install postgresql; .ci/run does)")
    bindir = os.path.dirname(bins[-1])
    # Not under pytest's temp folder: the postgres user cannot enter root's 0700 folders.
    base = Path(tempfile.mkdtemp(prefix="tipline-pg-"))
    data = base / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(data, "postgres")
    port = free_port()
    subprocess.run(_as_postgres([f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "tipline"]),
                   check=True, capture_output=True)
    opts = f"-k {base} -p {port} -c listen_addresses='' -c fsync=on"
    subprocess.run(_as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-o", opts, "-l", str(base / "log"),
                                 "-w", "start"]), check=True, capture_output=True)
    url = f"postgresql+psycopg://tipline@/postgres?host={base}&port={port}"
    try:
        yield url
    finally:
        subprocess.run(_as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_tips_roundtrip_on_postgres(pg_url, tmp_path, keydir, export_and_decrypt):  # noqa: F811
    srv = make_server(tmp_path, keydir / "journalist.pub")
    srv.data_dir.joinpath("tipline.toml").write_text(f'database_url = "{pg_url}"\n')
    srv.start()
    try:
        token = srv.csrf_token()
        r = srv.post_form([("csrf_token", token), ("message", "stored in postgres ✓")],
                          [("files", "doc.txt", b"attached", "text/plain")])
        assert r.status == 303
        assert not (srv.data_dir / "tipline.sqlite3").exists()  # really not SQLite
        out = export_and_decrypt(srv)
        (sub,) = list(out.iterdir())
        assert (sub / "message.txt").read_text() == "stored in postgres ✓"
        assert (sub / "files" / "doc.txt").read_bytes() == b"attached"
    finally:
        srv.stop()
    # Retention against the same database: age the row, then purge it.
    with make_engine(pg_url).begin() as con:
        con.execute(text("update submissions set received_hour = '2020-01-01T00:00Z'"))
    r = subprocess.run([sys.executable, "-m", "tipline.cli", "purge", "--data-dir", str(srv.data_dir),
                        "--older-than", "30d"], capture_output=True, text=True)
    assert "Purged 1" in r.stdout, r.stderr
    assert list((srv.data_dir / "store" / "submissions").iterdir()) == []


def test_accounts_on_postgres(pg_url):
    accounts = Accounts(make_sessions(make_engine(pg_url)))
    enrol = accounts.add(f"pg{int(time.time())}", "orbit velvet canyon maple ticket frozen lantern")
    totp = pyotp.parse_uri(enrol.totp_uri)
    t0 = 1_900_000_000
    token = accounts.login(enrol.name, enrol.passphrase, totp.at(t0), now=t0)
    assert accounts.session_user(token, now=t0 + 60) == enrol.name
    with pytest.raises(LoginRefused):
        accounts.login(enrol.name, enrol.passphrase, totp.at(t0), now=t0 + 1)  # the same code again
