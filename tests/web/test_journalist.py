"""The journalist app over real HTTP (its own gunicorn), beside the source app on the same data."""

from __future__ import annotations

import io
import re
import sqlite3
import tarfile

import pyotp
import pytest

from tests.conftest import decrypt_with
from tests.conftest import run_tipline as tipline
from tests.web.server import Server, free_port, make_server
from tipline.store.accounts import LoginRefused, open_accounts

PASSPHRASE = "orbit velvet canyon maple ticket frozen lantern"


@pytest.fixture(scope="module")
def apps(tmp_path_factory, keydir):
    base = tmp_path_factory.mktemp("journalist")
    source = make_server(base, keydir / "journalist.pub")
    source.start()
    journalist = Server(source.data_dir, source.tmp_dir, base / "journalist.log", free_port())
    journalist.start("--app", "journalist")
    yield source, journalist
    source.stop()
    journalist.stop()


@pytest.fixture
def account(apps, tmp_path, request):
    """A fresh journalist per test: a TOTP code is good once, so tests must not share one."""
    source, _ = apps
    name = re.sub(r"[^a-z0-9]", "", request.node.name.lower())[-40:]
    (tmp_path / "pw").write_text(PASSPHRASE + "\n")
    out = tipline(
        "journalist",
        "add",
        name,
        "--data-dir",
        str(source.data_dir),
        "--passphrase-file",
        str(tmp_path / "pw"),
    )
    uri = next(line for line in out.stdout.splitlines() if line.startswith("otpauth://"))
    return name, pyotp.parse_uri(uri)


def submit(source: Server, message: str, files=()) -> None:
    token = source.csrf_token()
    assert source.post_form([("csrf_token", token), ("message", message)], list(files)).status == 200


def login(j: Server, account, passphrase: str = PASSPHRASE, code: str | None = None, name: str | None = None):
    who, totp = account
    j.cookies.clear()
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', j.get("/login").body.decode()).group(1)
    return j.post_urlencoded(
        "/login",
        {"csrf_token": token, "name": name or who, "passphrase": passphrase, "code": code or totp.now()},
    )


def page_token(j: Server, path: str = "/") -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', j.get(path).body.decode()).group(1)


def test_list_requires_login(apps):
    _, j = apps
    j.cookies.clear()
    r = j.get("/")
    assert r.status == 303 and r.header("Location") == "/login"


def test_login_with_real_totp_then_download_and_decrypt(apps, account, keydir, tmp_path):
    source, j = apps
    submit(source, "for the journalist ✓", [("files", "memo.pdf", b"%PDF secret", "application/pdf")])
    r = login(j, account)
    assert r.status == 303 and r.header("Location") == "/"
    cookie = r.headers.get_all("Set-Cookie")
    session = next(c for c in cookie if c.startswith("tipline-session=")).lower()
    assert "httponly" in session and "samesite=strict" in session
    page = j.get("/").body.decode()
    ids = re.findall(r'name="id" value="([^"]+)"', page)
    assert ids and "new" in page
    r = j.post_urlencoded("/download", {"csrf_token": page_token(j), "which": "new"})
    assert r.status == 200 and r.header("Content-Type") == "application/x-tar"
    bundle = tmp_path / "b.tar"
    bundle.write_bytes(r.body)
    with tarfile.open(bundle) as t:
        assert t.getnames()[0] == "manifest.json"
        assert all(m.mtime == 0 for m in t.getmembers())
    out = tmp_path / "out"
    d = decrypt_with(keydir, out, bundle)
    assert d.returncode == 0, d.stderr
    msgs = [p.read_text() for p in out.glob("**/message.txt")]
    assert "for the journalist ✓" in msgs
    assert [p.read_bytes() for p in out.glob("**/files/memo.pdf")] == [b"%PDF secret"]
    # Now marked as downloaded by ana; "all new" has nothing left.
    page = j.get("/").body.decode()
    assert f"{account[0]} (" in page
    r = j.post_urlencoded("/download", {"csrf_token": page_token(j), "which": "new"})
    assert r.status == 400 and b"Nothing selected" in r.body


def test_reused_code_refused(apps, account):
    _, j = apps
    code = account[1].now()
    assert login(j, account, code=code).status == 303
    r = login(j, account, code=code)
    assert r.status == 401 and b"did not work together" in r.body


def test_wrong_passphrase_and_wrong_code(apps, account):
    _, j = apps
    assert login(j, account, passphrase="wrong " + PASSPHRASE).status == 401
    wrong = "000000" if account[1].now() != "000000" else "111111"
    assert login(j, account, code=wrong).status == 401
    assert login(j, account, name="nobody").status == 401  # an unknown name looks the same
    assert login(j, account).status == 303  # two slips in a row cost no delay


def test_throttle_per_account(apps, account):
    _, j = apps
    for _ in range(5):
        assert login(j, account, passphrase="bad guess").status == 401
    # Five tries at once, then one every 12 s: even the right answer waits its turn.
    r = login(j, account)
    assert r.status == 429 and 1 <= int(r.header("Retry-After")) <= 12
    assert b"Too many attempts" in r.body


def test_post_without_csrf_refused(apps, account):
    _, j = apps
    assert login(j, account).status == 303
    r = j.post_urlencoded("/delete/confirmed", {"confirm": "yes", "id": "x"})
    assert r.status == 403
    r = j.post_urlencoded("/login", {"name": "ana", "passphrase": PASSPHRASE, "code": "123456"})
    assert r.status == 403


def test_expired_session_by_inactivity(apps, account):
    _, j = apps
    assert login(j, account).status == 303
    assert j.get("/").status == 200
    con = sqlite3.connect(j.data_dir / "journalist" / "accounts.db")
    con.execute(
        "update journalist_sessions set last_seen = last_seen - 31 * 60 where journalist = ?", (account[0],)
    )
    con.commit()
    con.close()
    r = j.get("/")
    assert r.status == 303 and r.header("Location") == "/login"


def test_session_lifetimes_real_db(tmp_path):
    accounts = open_accounts(f"sqlite:///{tmp_path / 'a.db'}", tmp_path / "totp.key")
    enrol = accounts.add("bo", PASSPHRASE)
    totp = pyotp.parse_uri(enrol.totp_uri)
    t0 = 1_900_000_000
    token = accounts.login("bo", PASSPHRASE, totp.at(t0), now=t0)
    for minute in range(1, 8 * 60, 29):  # kept alive by activity every 29 minutes ...
        assert accounts.session_user(token, now=t0 + minute * 60) == "bo"
    assert accounts.session_user(token, now=t0 + 8 * 3600 + 1) is None  # ... but never past 8 hours
    token = accounts.login("bo", PASSPHRASE, totp.at(t0 + 60), now=t0 + 60)
    assert accounts.session_user(token, now=t0 + 60 + 30 * 60 + 1) is None  # 30 idle minutes
    with pytest.raises(LoginRefused):  # a code from an older step than one already used
        accounts.login("bo", PASSPHRASE, totp.at(t0 + 30), now=t0 + 60)


def test_delete_removes_files_and_rows(apps, account):
    source, j = apps
    submit(source, "to be deleted")
    assert login(j, account).status == 303
    page = j.get("/").body.decode()
    ids = re.findall(r'name="id" value="([^"]+)"', page)
    target = ids[0]
    folder = j.data_dir / "store" / "submissions" / target
    assert folder.exists()
    r = j.post_urlencoded("/delete", {"csrf_token": page_token(j), "id": target})
    assert r.status == 200 and b"Delete for good" in r.body and folder.exists()  # only a confirmation so far
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', r.body.decode()).group(1)
    r = j.post_urlencoded("/delete/confirmed", {"csrf_token": token, "id": target, "confirm": "yes"})
    assert r.status == 200 and b"Deleted 1 submission" in r.body
    assert not folder.exists()
    assert target not in j.get("/").body.decode()


JOURNALIST_ROUTES = ["/login", "/logout", "/download", "/delete", "/delete/confirmed"]
SOURCE_ROUTES = ["/submit", "/thanks"]


def test_apps_share_no_routes(apps):
    source, j = apps
    for path in JOURNALIST_ROUTES:
        assert source.get(path).status == 404, path
        assert source.request("POST", path, body=b"").status in (404, 405), path
    for path in SOURCE_ROUTES:
        assert j.get(path).status == 404, path
        assert j.request("POST", path, body=b"").status in (404, 405), path
    assert b"Send us a tip" in source.get("/").body
    assert j.get("/", cookies=False).header("Location") == "/login"


def test_journalist_pages_carry_the_same_headers(apps):
    _, j = apps
    r = j.get("/login")
    assert r.header("Content-Security-Policy").startswith("default-src 'none'")
    assert r.header("Referrer-Policy") == "no-referrer" and r.header("Cache-Control") == "no-store"


def test_journalist_cli(tmp_path):
    data = str(tmp_path / "d")
    out = tipline("journalist", "add", "cy", "--data-dir", data).stdout
    phrase = re.search(r"it is not shown again\): (.+)", out).group(1)
    assert len(phrase.split()) >= 7
    assert re.search(r"^otpauth://totp/Tipline:cy\?.*secret=[A-Z2-7]+", out, re.M)
    (tmp_path / "weak").write_text("short words only\n")
    r = tipline(
        "journalist",
        "add",
        "dee",
        "--data-dir",
        data,
        "--passphrase-file",
        str(tmp_path / "weak"),
        check=False,
    )
    assert r.returncode == 1 and "too weak" in r.stderr
    assert tipline("journalist", "list", "--data-dir", data).stdout.split() == ["cy"]
    # The accounts database, never the submissions one.
    assert (tmp_path / "d" / "journalist" / "accounts.db").exists()
    assert not (tmp_path / "d" / "tipline.sqlite3").exists()
    out = tipline("journalist", "reset-totp", "cy", "--data-dir", data).stdout
    assert "otpauth://" in out
    tipline("journalist", "remove", "cy", "--data-dir", data)
    assert "No journalists" in tipline("journalist", "list", "--data-dir", data).stdout


def test_wordlist_is_the_eff_large_list():
    import hashlib

    from tipline.store.accounts import wordlist

    words = wordlist()
    assert len(words) == 7776 == len(set(words))
    assert hashlib.sha256(("\n".join(sorted(words)) + "\n").encode()).hexdigest() == (
        "6d557f0693958fb5e650b68b5bee585eb82cf4da32965505c789e924743bc522"
    )


def test_purge_older_than_and_after_download(tmp_path, keydir):
    srv = make_server(tmp_path, keydir / "journalist.pub").start()
    try:
        for i in range(3):
            submit(srv, f"tip {i}")
    finally:
        srv.stop()
    con = sqlite3.connect(srv.data_dir / "tipline.sqlite3")
    ids = [r[0] for r in con.execute("select id from submissions order by id")]
    con.execute("update submissions set received_hour = '2020-01-01T00:00Z' where id = ?", (ids[0],))
    con.execute("update submissions set first_download_hour = '2020-01-02T00:00Z' where id = ?", (ids[1],))
    con.commit()
    r = tipline("purge", "--data-dir", str(srv.data_dir), "--older-than", "30d")
    assert "Purged 1" in r.stdout
    r = tipline("purge", "--data-dir", str(srv.data_dir), "--after-download", "7d")
    assert "Purged 1" in r.stdout
    left = [r[0] for r in con.execute("select id from submissions")]
    con.close()
    assert left == [ids[2]]
    assert sorted(p.name for p in (srv.data_dir / "store" / "submissions").iterdir()) == [ids[2]]
    r = tipline("purge", "--data-dir", str(srv.data_dir), check=False)
    assert r.returncode == 2 and "--older-than" in r.stderr


def test_bundle_stream_is_a_valid_tar_in_memory(apps, account):
    # The streamed bundle parses with tarfile from a non-seekable stream too.
    source, j = apps
    submit(source, "stream check")
    assert login(j, account).status == 303
    r = j.post_urlencoded(
        "/download",
        {
            "csrf_token": page_token(j),
            "id": re.findall(r'name="id" value="([^"]+)"', j.get("/").body.decode()),
        },
    )
    with tarfile.open(fileobj=io.BytesIO(r.body), mode="r|") as t:
        names = [m.name for m in t]
    assert names[0] == "manifest.json" and all(n.endswith(".envelope") for n in names[1:])
