"""The journalist's own address, /settings/notifications, over real HTTP (gunicorn), and the CLI."""

from __future__ import annotations

import pytest

from tests.conftest import run_tipline
from tests.web.logins import csrf_pair, post
from tests.web.newsroom import login, start_newsroom, token_of

PAGE = "/settings/notifications"
TOML = """
[notify]
route = "direct"
send_when_quiet = true
[notify.smtp]
host = "localhost"
port = 1
from = "tipline@example.org"
"""


@pytest.fixture(scope="module")
def room(tmp_path_factory, keydir):
    nr = start_newsroom(tmp_path_factory.mktemp("room"), keydir, TOML)
    yield nr
    nr.stop()


def dry_run(room) -> str:
    return run_tipline("notify", "--dry-run", "--data-dir", str(room.data_dir)).stdout


def test_set_show_and_clear_an_address(room):
    j = room.journalist
    login(j, room.enrol("ana"), room.totp["ana"])
    assert 'id="notify-settings" href="/settings/notifications"' in j.get("/").body.decode()
    page = j.get(PAGE)
    assert page.status == 200
    assert "You have no notification address of your own." in page.body.decode()
    assert "not set up on this installation" not in page.body.decode()
    r = j.post_urlencoded(
        PAGE, {"csrf_token": token_of(j, PAGE), "action": "save", "email": " ana@example.org "}
    )
    assert (r.status, r.header("Location")) == (303, PAGE)
    assert "Notifications also go to <strong>ana@example.org</strong>." in j.get(PAGE).body.decode()
    assert "email to ana@example.org" in dry_run(room)
    r = j.post_urlencoded(PAGE, {"csrf_token": token_of(j, PAGE), "action": "clear"})
    assert r.status == 303
    assert "You have no notification address of your own." in j.get(PAGE).body.decode()
    assert "ana@example.org" not in dry_run(room)
    # Both changes are in the activity log, by the hour and without the address itself.
    log = run_tipline("log", "--action", "notify_address_changed", "--data-dir", str(room.data_dir))
    lines = log.stdout.splitlines()
    assert len(lines) == 2 and all("\tana\tnotify_address_changed\t" in ln for ln in lines), log.stdout
    assert {ln.rsplit("\t", 1)[1] for ln in lines} == {"set", "cleared"} and "@" not in log.stdout


def test_a_malformed_address_changes_nothing(room):
    j = room.journalist
    login(j, room.enrol("ben"), room.totp["ben"])
    r = j.post_urlencoded(PAGE, {"csrf_token": token_of(j, PAGE), "email": "ben@example.org"})
    assert r.status == 303
    for bad in (
        "ben",
        "ben@example",
        "ben@example.org\r\nBcc: x@example.org",
        "a b@example.org",
        "x" * 250 + "@e.org",
    ):
        r = j.post_urlencoded(PAGE, {"csrf_token": token_of(j, PAGE), "email": bad})
        body = r.body.decode()
        assert r.status == 400
        assert "That is not an email address like name@example.org. Nothing was changed" in body
        assert "Notifications also go to <strong>ben@example.org</strong>." in body
    assert "email to ben@example.org" in dry_run(room)


def test_the_post_needs_the_csrf_token_and_a_login(room):
    j = room.journalist
    login(j, room.enrol("cat"), room.totp["cat"])
    r = j.post_urlencoded(PAGE, {"email": "cat@example.org"})
    assert r.status == 403
    assert "cat@example.org" not in dry_run(room)
    cookie, token = csrf_pair(j, "/login")
    r = post(j, PAGE, {"csrf_token": token, "email": "cat@example.org"}, {"tipline_csrf": cookie})
    assert (r.status, r.header("Location")) == (303, "/login")
    assert j.get(PAGE, cookies=False).status == 303
