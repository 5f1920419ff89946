"""The source app cannot read journalist secrets: its own folder, no accounts, sealed TOTP secrets.

docs/install.md's layout: DATA_DIR/source/ is the source app's,
DATA_DIR/journalist/ (accounts.db, csrf.secret, totp.key) the journalist app's.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import sys

import pytest

from tests.conftest import unavailable
from tests.web.logins import csrf_pair, enrol, post
from tests.web.server import Server, free_port, make_server
from tipline.store.account_key import AccountKey, SealError


def _linux_only() -> None:
    if sys.platform != "linux":
        unavailable("watching file opens needs Linux inotify")


def tables(db) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {r[0] for r in con.execute("select name from sqlite_master where type = 'table'")}
    finally:
        con.close()


def take_tips(srv: Server, n: int) -> None:
    for i in range(n):
        cookie, token = csrf_pair(srv, "/")
        r = post(srv, "/submit", {"csrf_token": token, "message": f"tip {i}"}, {"tipline_csrf": cookie})
        assert r.status == 200


def test_source_app_never_opens_the_journalist_folder(tmp_path, keydir):
    _linux_only()
    from tests.web.watch import FolderWatch

    source = make_server(tmp_path, keydir / "journalist.pub")
    data = source.data_dir
    source.start()
    try:
        take_tips(source, 2)
    finally:
        source.stop()
    assert not (data / "journalist").exists()  # never made, on a fresh install
    assert (data / "source" / "csrf.secret").stat().st_mode & 0o777 == 0o600
    assert (data / "source").stat().st_mode & 0o777 == 0o700
    assert not (data / "csrf.secret").exists()

    # Now with journalists enrolled and the journalist app's own secrets made ...
    enrol(data, "ana", tmp_path)
    journalist = Server(data, source.tmp_dir, tmp_path / "j.log", free_port()).start("--app", "journalist")
    try:
        assert journalist.get("/login").status == 200
    finally:
        journalist.stop()
    private = data / "journalist"
    assert {p.name for p in private.iterdir()} >= {"accounts.db", "csrf.secret", "totp.key"}
    # ... the source app serves and takes tips, and not one file in there is opened, made or listed.
    watch = FolderWatch(private)
    try:
        again = Server(data, source.tmp_dir, tmp_path / "s2.log", free_port()).start()
        try:
            take_tips(again, 2)
        finally:
            again.stop()
        assert watch.events() == []
        (private / "accounts.db").read_bytes()  # the watch does see an open
        assert any(name == "accounts.db" for _mask, name in watch.events())
    finally:
        watch.close()
    # What the source app needs, conversations included; not one table of the accounts.
    # The newsroom's conversation status is there too: a follow-up moves it (docs/newsroom-workflow.md).
    assert tables(data / "tipline.sqlite3") == {
        "submissions",
        "downloads",
        "conversations",
        "replies",
        "conversation_status",
        "conversation_seen",
        "alembic_version_submissions",  # its schema revision (docs/upgrades.md)
    }
    assert tables(private / "accounts.db") == {
        "journalists",
        "journalist_sessions",
        "login_throttle",
        "activity_log",  # docs/activity-log.md: journalists' actions stay beside their accounts
        "notify_addresses",  # docs/notifications.md: each journalist's own address, beside the accounts
        "alembic_version_accounts",
    }


def test_accounts_db_holds_no_totp_secret_in_clear(tmp_path):
    data = tmp_path / "data"
    _, _, secret = enrol(data, "ana", tmp_path)
    _, _, other = enrol(data, "bo", tmp_path)
    copy = b"".join(p.read_bytes() for p in sorted((data / "journalist").glob("accounts.db*")))
    assert copy
    for s in (secret, other):
        assert s.encode() not in copy and s.lower().encode() not in copy
        assert base64.b32decode(s) not in copy
    # Still what the app logs in with: the sealed secret opens, with this key and this name only.
    con = sqlite3.connect(data / "journalist" / "accounts.db")
    sealed = dict(con.execute("select name, totp_secret from journalists"))
    con.close()
    key = AccountKey.from_file(data / "journalist" / "totp.key")
    assert key.open("ana", sealed["ana"]) == secret
    with pytest.raises(SealError):
        key.open("bo", sealed["ana"])  # moved to another account, it does not open
    with pytest.raises(SealError):
        AccountKey(os.urandom(32)).open("ana", sealed["ana"])  # nor with another installation's key
    assert (data / "journalist" / "totp.key").stat().st_mode & 0o777 == 0o600


def test_the_apps_csrf_tokens_are_not_interchangeable(tmp_path, keydir):
    source = make_server(tmp_path, keydir / "journalist.pub").start()
    journalist = Server(source.data_dir, source.tmp_dir, tmp_path / "j.log", free_port())
    journalist.start("--app", "journalist")
    try:
        cookie, source_token = csrf_pair(source, "/")
        _, journalist_token = csrf_pair(journalist, "/login", cookie=cookie)
        assert source_token != journalist_token  # the same cookie, two secrets
        jar = {"tipline_csrf": cookie}
        login = {"name": "ana", "passphrase": "x", "code": "123456"}
        assert post(journalist, "/login", {**login, "csrf_token": source_token}, jar).status == 403
        assert post(journalist, "/login", {**login, "csrf_token": journalist_token}, jar).status == 401
        tip = {"message": "hello"}
        assert post(source, "/submit", {**tip, "csrf_token": journalist_token}, jar).status == 403
        assert post(source, "/submit", {**tip, "csrf_token": source_token}, jar).status == 200
    finally:
        source.stop()
        journalist.stop()
