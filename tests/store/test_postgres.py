"""The same store and apps on PostgreSQL: a private server started for these tests."""

from __future__ import annotations

import subprocess
import sys
import time

import pyotp
import pytest
from sqlalchemy import text

from tests.conftest import submission_folders
from tests.postgres import new_database, pg_url  # noqa: F401 (a fixture)
from tests.store.conversation_helpers import Source, open_store, race_first_tips, race_replies, reply_envelope
from tests.web.conftest import export_and_decrypt  # noqa: F401 (a fixture)
from tests.web.logins import PASSPHRASE, enrol, parallel_logins, statuses
from tests.web.server import Server, free_port, make_server
from tipline.format.keys import SecretKey
from tipline.store.accounts import LoginRefused, open_accounts
from tipline.store.conversations import ConversationExists
from tipline.store.db import make_engine
from tipline.store.models import AccountsBase


def test_tips_roundtrip_on_postgres(pg_url, tmp_path, keydir, export_and_decrypt):  # noqa: F811
    srv = make_server(tmp_path, keydir / "journalist.pub")
    srv.data_dir.joinpath("tipline.toml").write_text(f'database_url = "{pg_url}"\n')
    srv.start()
    try:
        token = srv.csrf_token()
        r = srv.post_form(
            [("csrf_token", token), ("message", "stored in postgres ✓")],
            [("files", "doc.txt", b"attached", "text/plain")],
        )
        assert r.status == 200  # the codename page
        assert not (srv.data_dir / "tipline.sqlite3").exists()  # really not SQLite
        out = export_and_decrypt(srv)
        (sub,) = submission_folders(out).values()
        assert (sub / "message.txt").read_text() == "stored in postgres ✓"
        assert (sub / "files" / "doc.txt").read_bytes() == b"attached"
    finally:
        srv.stop()
    # Retention against the same database: age the row, then purge it.
    with make_engine(pg_url).begin() as con:
        con.execute(text("update submissions set received_hour = '2020-01-01T00:00Z'"))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tipline.cli",
            "purge",
            "--data-dir",
            str(srv.data_dir),
            "--older-than",
            "30d",
        ],
        capture_output=True,
        text=True,
    )
    assert "Purged 1" in r.stdout, r.stderr
    assert list((srv.data_dir / "store" / "submissions").iterdir()) == []


def test_accounts_on_postgres(pg_url, tmp_path):  # noqa: F811
    accounts = open_accounts(new_database(pg_url, "accounts_unit"), tmp_path / "totp.key")
    enrol = accounts.add(f"pg{int(time.time())}", "orbit velvet canyon maple ticket frozen lantern")
    totp = pyotp.parse_uri(enrol.totp_uri)
    t0 = 1_900_000_000
    token = accounts.login(enrol.name, enrol.passphrase, totp.at(t0), now=t0)
    assert accounts.session_user(token, now=t0 + 60) == enrol.name
    with pytest.raises(LoginRefused):
        accounts.login(enrol.name, enrol.passphrase, totp.at(t0), now=t0 + 1)  # the same code again


def test_parallel_logins_on_postgres(pg_url, tmp_path, keydir):  # noqa: F811
    """The conditional UPDATEs hold on PostgreSQL too: real gunicorn, 4 workers x 8 threads."""
    accounts_url = new_database(pg_url, "accounts_http")
    source = make_server(tmp_path, keydir / "journalist.pub")
    source.data_dir.joinpath("tipline.toml").write_text(
        f'database_url = "{pg_url}"\naccounts_database_url = "{accounts_url}"\n'
    )
    srv = Server(source.data_dir, source.tmp_dir, tmp_path / "j.log", free_port())
    srv.start("--app", "journalist", "--workers", "4")
    try:
        wrong = [{"name": enrol(srv.data_dir, "par", tmp_path)[0], "passphrase": "x", "code": "123456"}]
        assert statuses(parallel_logins(srv, wrong * 40)) == {401: 5, 429: 35}
        unknown = [{"name": "nosuchname", "passphrase": "x", "code": "123456"}]
        assert statuses(parallel_logins(srv, unknown * 40)) == {401: 5, 429: 35}
        name, totp, _ = enrol(srv.data_dir, "once", tmp_path)
        code = totp.now()
        counts = statuses(parallel_logins(srv, [{"name": name, "passphrase": PASSPHRASE, "code": code}] * 10))
        assert counts[303] == 1 and counts[401] >= 1, counts
    finally:
        srv.stop()
    assert not (srv.data_dir / "journalist" / "accounts.db").exists()  # really on PostgreSQL
    # The accounts schema: the submissions schema's engine now refuses a database of other tables.
    with make_engine(accounts_url, AccountsBase.metadata).connect() as con:
        n = con.execute(text("select count(*) from journalist_sessions where journalist = 'once'")).scalar()
    assert n == 1


def test_conversations_on_postgres(pg_url, tmp_path):  # noqa: F811
    """One conversation per verifier hash, no reply lost, and deletion, under PostgreSQL's concurrency."""
    convs = open_store(new_database(pg_url, "conversations_unit"), tmp_path / "store")
    newsroom = SecretKey.generate().public_key
    source = Source.new()
    results = race_first_tips(convs, newsroom, source)
    (cid,) = [r for r in results if isinstance(r, str)]
    assert all(isinstance(r, ConversationExists) for r in results if r != cid), results
    assert len(list(convs.store.done.iterdir())) == 1 and list(convs.store.pending.iterdir()) == []
    ids = race_replies(convs, cid, reply_envelope("parallel", source.public_key, newsroom))
    assert sorted(e.id for e in convs.thread(cid) if e.kind == "reply") == sorted(ids) and len(ids) == 24
    assert convs.find(source.derived.verifier_hash).id == cid
    assert convs.delete([cid]) == 1
    assert convs.list() == [] and list(convs.store.replies.iterdir()) == [] and convs.store.list() == []
