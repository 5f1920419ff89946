"""The activity log over real HTTP: a scripted day, parallel failed logins, the raw file, the CLI.

A real gunicorn serves the journalist app on a real SQLite accounts database;
the log is read back three ways: through the store, through `tipline log`,
and through the /activity page.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import run_tipline
from tests.store.conversation_helpers import reply_envelope
from tests.web.logins import PASSPHRASE, enrol, parallel_logins, statuses
from tests.web.newsroom import TOKEN, Newsroom, start_newsroom, upload
from tests.web.server import Server, free_port, make_server
from tipline.config import load_settings
from tipline.ops.activity_cli import open_log
from tipline.store.activity import ADMIN, UNKNOWN_NAME, ActivityLog
from tipline.store.keyring import compact

HOUR = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:00Z$")
# Sent with every request of the day: none of it may reach the log's file.
AGENT = "ProbeBrowser/7.3 (activity-log-marker)"
TYPO = "anna-typed-wrongly"


def log_of(data_dir: Path) -> ActivityLog:
    return open_log(load_settings(data_dir))


def totals(log: ActivityLog) -> dict[tuple[str, str, str], int]:
    """(name, action, detail) -> count over every hour: the day's actions, whatever hour they fell in."""
    out: dict[tuple[str, str, str], int] = {}
    for e in log.entries(limit=10_000):
        assert HOUR.match(e.hour), e
        key = (e.journalist, e.action, e.detail)
        out[key] = out.get(key, 0) + e.count
    return out


def ask(j: Server, method: str, path: str, fields: dict | None = None):
    """A request as a browser sends it: with a user agent, and the form urlencoded."""
    headers = {"User-Agent": AGENT}
    body = None
    if fields is not None:
        body = urlencode(fields, doseq=True).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return j.request(method, path, body=body, headers=headers)


def token(j: Server, path: str) -> str:
    return TOKEN.search(ask(j, "GET", path).body.decode()).group(1)


def try_login(j: Server, name: str, passphrase: str, code: str) -> int:
    fields = {"csrf_token": token(j, "/login"), "name": name, "passphrase": passphrase, "code": code}
    return ask(j, "POST", "/login", fields).status


@pytest.fixture
def room(tmp_path, keydir):
    r = start_newsroom(tmp_path, keydir)
    yield r
    r.stop()


def scripted_day(room: Newsroom) -> tuple[str, str]:
    """Two wrong passphrases, a typo'd name, a login, a download, two replies, a deletion, a logout."""
    j = room.journalist
    ana = room.enrol("ana")
    first, source = room.open_conversation("the first tip")
    second, _ = room.open_conversation("the second tip")
    assert try_login(j, ana, "not the passphrase", "000000") == 401
    assert try_login(j, ana, "still not it", "000000") == 401
    assert try_login(j, TYPO, PASSPHRASE, "000000") == 401
    assert try_login(j, ana, PASSPHRASE, room.totp[ana].now()) == 303
    r = ask(j, "POST", "/download", {"csrf_token": token(j, "/"), "conversation": first})
    assert r.status == 200 and r.header("Content-Type") == "application/x-tar" and len(r.body) > 1024
    # The second conversation is downloaded and answered too, then deleted: the log forgets its id.
    r = ask(j, "POST", "/download", {"csrf_token": token(j, "/"), "conversation": second})
    assert r.status == 200 and len(r.body) > 1024
    r = ask(
        j,
        "POST",
        f"/conversations/{second}/reply",
        {"csrf_token": token(j, f"/conversations/{second}"), "message": "a reply to a tip soon deleted"},
    )
    assert r.status == 303
    r = ask(
        j,
        "POST",
        f"/conversations/{first}/reply",
        {"csrf_token": token(j, f"/conversations/{first}"), "message": "a reply, JavaScript off"},
    )
    assert r.status == 303
    assert (
        upload(j, first, reply_envelope("written offline", source.public_key, room.newsroom_key)).status
        == 303
    )
    r = ask(j, "POST", "/delete", {"csrf_token": token(j, "/"), "conversation": second})
    subs = re.findall(r'name="id" value="([^"]+)"', r.body.decode())
    fields = {"csrf_token": token(j, "/"), "confirm": "yes", "conversation": second, "id": subs}
    assert ask(j, "POST", "/delete/confirmed", fields).status == 200
    assert ask(j, "POST", "/logout", {"csrf_token": token(j, "/")}).status == 303
    return first, second


def test_a_scripted_day_makes_exactly_these_entries(room):
    first, _second = scripted_day(room)
    assert (
        totals(log_of(room.data_dir))
        == {
            (ADMIN, "account_added", "name=ana"): 1,
            ("ana", "login_failed", ""): 2,
            (UNKNOWN_NAME, "login_failed", ""): 1,  # the typo is counted, never stored as typed
            ("ana", "login", ""): 1,
            ("ana", "download", f"submissions=1 conversations={first[:8]}"): 1,
            ("ana", "reply", f"conversation={first[:8]} sealed_by=server"): 1,
            ("ana", "reply", f"conversation={first[:8]} sealed_by=offline"): 1,
            ("ana", "download", "submissions=1 conversations=deleted"): 1,
            ("ana", "reply", "conversation=deleted sealed_by=server"): 1,
            ("ana", "delete", "submissions=1 conversations_deleted=1 conversations=none"): 1,
            ("ana", "logout", ""): 1,
        }
    )
    assert log_of(room.data_dir).failed_logins("2000-01-01T00:00Z") == {"ana": 2, UNKNOWN_NAME: 1}

    # `tipline log`: one line per entry, newest hour first, tab-separated.
    out = run_tipline("log", "--data-dir", str(room.data_dir)).stdout.splitlines()
    rows = [line.split("\t") for line in out]
    assert len(rows) == sum(1 for _ in log_of(room.data_dir).entries())
    assert [r[0] for r in rows] == sorted((r[0] for r in rows), reverse=True)
    assert ["ana", "login_failed", "x2"] in [r[1:4] for r in rows]
    assert [UNKNOWN_NAME, "login_failed", "x1"] in [r[1:4] for r in rows]
    only = run_tipline("log", "--data-dir", str(room.data_dir), "--journalist", "ana", "--action", "reply")
    assert sorted(line.split("\t")[1:] for line in only.stdout.splitlines()) == sorted(
        [
            ["ana", "reply", "x1", "conversation=deleted sealed_by=server"],
            ["ana", "reply", "x1", f"conversation={first[:8]} sealed_by=offline"],
            ["ana", "reply", "x1", f"conversation={first[:8]} sealed_by=server"],
        ]
    )


def test_log_file_holds_hours_only_and_no_address_agent_or_typed_name(room):
    first, second = scripted_day(room)
    files = sorted((room.data_dir / "journalist").glob("accounts.db*"))
    raw = b"".join(p.read_bytes() for p in files)
    assert b"activity_log" in raw and b"login_failed" in raw  # the log is really in this file
    # Conversations by their short id, as the list shows them; the deleted one's id, short or
    # whole, is in no file: its entries say "deleted" instead.
    assert first[:8].encode() in raw and b"conversation=deleted" in raw
    ids = (first.encode(), second.encode(), second[:8].encode())
    for leak in (b"127.0.0.1", AGENT.encode(), b"ProbeBrowser", TYPO.encode(), b"the first tip", *ids):
        assert leak not in raw, leak
    # Times as text: only whole hours anywhere in the file (the sessions' own times are integers).
    assert re.findall(rb"T\d\d:\d\d", raw) and all(
        t.endswith(b":00") for t in re.findall(rb"T\d\d:\d\d", raw)
    )
    assert not re.search(rb"\d\d:\d\d:\d\d", raw)
    con = sqlite3.connect(files[0])
    try:
        columns = [r[1] for r in con.execute("pragma table_info(activity_log)")]
        hours = [r[0] for r in con.execute("select hour from activity_log")]
        # WITHOUT ROWID: no hidden row number counts the entries in the order they came.
        assert (
            "WITHOUT ROWID"
            in con.execute("select sql from sqlite_master where name = 'activity_log'").fetchone()[0]
        )
    finally:
        con.close()
    assert columns == ["hour", "journalist", "action", "detail", "count"]
    assert hours and all(HOUR.match(h) for h in hours)


def test_activity_page_lists_and_filters(room):
    first, _second = scripted_day(room)
    j = room.journalist
    assert ask(j, "GET", "/activity").status == 303  # logged out: to the login page
    ben = room.enrol("ben")
    assert try_login(j, ben, PASSPHRASE, room.totp[ben].now()) == 303
    assert 'href="/activity"' in ask(j, "GET", "/").body.decode()  # the list page's link
    page = ask(j, "GET", "/activity").body.decode()
    shown = re.findall(r'<tr class="entry" data-action="([a-z_]+)">', page)
    assert len(shown) == len(log_of(room.data_dir).entries()) and "download" in shown
    assert f"<code>submissions=1 conversations={first[:8]}</code>" in page
    page = ask(j, "GET", "/activity?journalist=ana&action=login_failed").body.decode()
    assert re.findall(r'<tr class="entry" data-action="([a-z_]+)">', page) == ["login_failed"]
    assert re.search(r"<td>ana</td>\s*<td>Failed login</td>\s*<td>2</td>", page)
    page = ask(j, "GET", "/activity?journalist=nobody").body.decode()
    assert 'id="activity-empty"' in page and 'class="entry"' not in page
    # Under the language's prefix too (the journalist app ships English first).
    page = ask(j, "GET", "/en/activity?action=login").body.decode()
    assert 'action="/en/activity"' in page
    assert re.findall(r'data-action="([a-z_]+)"', page) == ["login", "login"]


def test_parallel_failed_logins_are_each_counted_once(tmp_path, keydir):
    source = make_server(tmp_path, keydir / "journalist.pub")
    j = Server(source.data_dir, source.tmp_dir, tmp_path / "journalist.log", free_port())
    name, _totp, _ = enrol(source.data_dir, "par", tmp_path)
    j.start("--app", "journalist", "--workers", "4")
    try:
        wrong = parallel_logins(j, [{"name": name, "passphrase": "guess", "code": "123456"}] * 40)
        unknown = parallel_logins(j, [{"name": "nobody-par", "passphrase": "g", "code": "1"}] * 40)
    finally:
        j.stop()
    # Five checked and refused (401) each; the rest refused unchecked by the throttle (429), not counted.
    assert statuses(wrong) == statuses(unknown) == {401: 5, 429: 35}
    assert log_of(source.data_dir).failed_logins("2000-01-01T00:00Z") == {"par": 5, UNKNOWN_NAME: 5}


def test_cli_actions_are_recorded_and_a_missing_database_is_not_made(tmp_path, keydir):
    from tests.conftest import run_offline

    data = tmp_path / "data"
    r = run_tipline("keys", "add", "--data-dir", str(data), str(keydir / "journalist.pub"))
    assert "Not recorded in the activity log: there is no accounts database yet" in r.stderr
    assert not (data / "journalist").exists()  # a fresh install keeps no journalist folder for this
    assert "There is no activity log yet" in run_tipline("log", "--data-dir", str(data)).stdout
    enrol(data, "ana", tmp_path)
    second = tmp_path / "k2"
    run_offline("keygen", "--out", str(second), "--passphrase-file", str(keydir / "pass.txt"), check=True)
    r = run_tipline("keys", "add", "--data-dir", str(data), str(second / "journalist.pub"))
    assert r.stderr == ""
    fp = compact(re.search(r"Added key (.+?)\. New tips", r.stdout).group(1))
    run_tipline("keys", "retire", "--data-dir", str(data), fp)
    run_tipline("journalist", "reset-totp", "ana", "--data-dir", str(data))
    run_tipline("journalist", "remove", "ana", "--data-dir", str(data))
    assert totals(log_of(data)) == {
        (ADMIN, "account_added", "name=ana"): 1,
        (ADMIN, "key_added", f"key={fp}"): 1,
        (ADMIN, "key_retired", f"key={fp}"): 1,
        (ADMIN, "account_changed", "name=ana change=reset-totp"): 1,
        (ADMIN, "account_removed", "name=ana"): 1,
    }
