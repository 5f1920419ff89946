"""The source's side of a conversation over real HTTP, against a real `tipline serve` (gunicorn).

A first tip with JavaScript off answers with the codename; the codename logs in,
the server opens a reply sealed in Python to the source's key in memory, a
follow-up lands in the same conversation (checked with the real offline tool),
and the source deletes a reply and leaves. The JavaScript-on exchange is
driven here by hand with the same fields the page sends (tests/browser/ runs
the page itself).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections import Counter

import pytest

from tests.browser.conftest import scan
from tests.web.conversations import (
    add_reply,
    conversation,
    first_tip,
    install_salt,
    login,
    reply_texts,
    store,
    token,
)
from tests.web.server import make_server
from tipline.format import codename

SESSION = "tipline-source"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def set_cookie(r, name: str) -> str:
    (c,) = [c for c in r.headers.get_all("Set-Cookie") or [] if c.startswith(name + "=")]
    return c


def test_install_salt_is_made_once_and_published(server):
    salt = install_salt(server.data_dir)
    assert len(salt) == 16
    for path in ("/", "/conversation"):
        assert f'data-install-salt="{b64url(salt)}"'.encode() in server.get(path).body


def test_first_tip_without_javascript_answers_with_the_codename(server):
    marker = f"first-{secrets.token_hex(6)}"
    before = server.submission_count()
    r = server.post_form([("csrf_token", token(server)), ("message", marker)])
    assert r.status == 200 and r.header("Location") is None and r.header("Cache-Control") == "no-store"
    page = r.body.decode()
    words = page.split('id="codename" class="codename" lang="en" dir="ltr">')[1].split("<")[0]
    assert codename.normalise(words) == words
    for advice in (
        "Write it on paper",
        "Do not keep it on this device",
        "only way back",
        "Nobody can recover it",
    ):
        assert advice in page
    conv = conversation(server, words)
    assert [e.kind for e in store(server).thread(conv.id)] == ["submission"]
    assert server.submission_count() == before + 1
    # Shown once, kept nowhere: not in the data folder, not in a later page.
    assert scan(words.encode(), server.data_dir, server.tmp_dir) == []
    assert words.encode() not in server.get("/").body


def test_browser_first_tip_without_the_codename_keys_is_refused(server):
    from tipline.format.keys import PublicKey
    from tipline.format.payload import Metadata
    from tipline.format.stream import seal_bytes

    before = (server.submission_count(), server.stored())
    env = seal_bytes(b"x", Metadata("message"), [PublicKey(bytes(range(32)))])
    r = server.post_form(
        [("csrf_token", token(server))],
        [("envelope", "0.envelope", env, "application/octet-stream")],
        path="/submit?sealed=browser",
        headers={"Accept": "application/json", "Tipline-Verifier": "short"},
    )
    assert r.status == 400 and "Reload the page" in json.loads(r.body)["error"]
    assert (server.submission_count(), server.stored()) == before


def test_login_reads_a_reply_opened_in_memory(server, keydir):
    words = first_tip(server, "tip before a reply")
    text = f'A reply <b>with</b> & "marks" {secrets.token_hex(8)}'
    add_reply(server, keydir, words, text)
    # Entry is forgiving: capitals, line breaks, hyphens between words.
    typed = "  " + "\n".join(words.upper().split(" ", 3)).replace(" ", " - ", 1) + "  "
    r = login(server, typed)
    assert r.status == 200
    assert reply_texts(r) == [text]
    assert b"<b>with</b>" not in r.body  # escaped, never HTML
    cookie = set_cookie(r, SESSION)
    attrs = [a.strip().lower() for a in cookie.split(";")[1:]]
    assert set(attrs) == {"httponly", "path=/", "samesite=strict"}  # no Max-Age: dies with the browser
    value = cookie.split(";")[0].split("=", 1)[1]
    assert conversation(server, words).id not in value and len(value) > 60  # sealed, unreadable
    # The reply was opened in memory only: its plaintext is nowhere in the data folder.
    assert scan(text.encode(), server.data_dir, server.tmp_dir) == []
    assert scan(words.encode(), server.data_dir, server.tmp_dir) == []


@pytest.mark.parametrize(("host", "secure"), [("a" * 56 + ".onion", False), ("tips.example.org", True)])
def test_session_cookie_is_secure_unless_the_transport_is_private(server, host, secure):
    """As the journalists' cookie: an onion or loopback is private already; anything else needs Secure."""
    words = first_tip(server, f"tip for the cookie on {host}")
    tok = token(server, "/conversation")
    body = f"csrf_token={tok}&codename={words.replace(' ', '+')}".encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Host": host}
    r = server.request("POST", "/conversation", body=body, headers=headers)
    assert r.status == 200
    attrs = {a.strip().lower() for a in set_cookie(r, SESSION).split(";")[1:]}
    assert ("secure" in attrs) is secure and {"httponly", "samesite=strict", "path=/"} <= attrs
    server.cookies.pop(SESSION, None)


def test_an_expired_or_foreign_session_is_no_session(server):
    """Sealed with the server's own key but past its expiry, or sealed with another key: logged out."""
    import struct
    import time

    import nacl.encoding
    import nacl.secret

    words = first_tip(server, "tip for the expiry")
    conv_id = conversation(server, words).id
    key = (server.data_dir / "source" / "session.key").read_bytes()

    def sealed(k: bytes, expiry: float) -> str:
        box = nacl.secret.SecretBox(k)
        plain = struct.pack(">QQ", int(expiry), int(time.time())) + conv_id.encode()
        return box.encrypt(plain, encoder=nacl.encoding.URLSafeBase64Encoder).decode()

    for value, logged_in in (
        (sealed(key, time.time() + 600), True),  # the check itself: a live one works
        (sealed(key, time.time() - 1), False),
        (sealed(bytes(32), time.time() + 600), False),
    ):
        server.cookies[SESSION] = value
        page = server.get("/conversation").body
        assert (b'id="conversation" aria-labelledby="replies-title" hidden' not in page) is logged_in
    server.cookies.pop(SESSION, None)


@pytest.fixture(scope="module")
def other(tmp_path_factory, keydir):
    """A second tip line: its own installation salt."""
    srv = make_server(tmp_path_factory.mktemp("other"), keydir / "journalist.pub").start()
    yield srv
    srv.stop()


def test_wrong_other_installation_and_malformed_codenames_get_one_page(server, other):
    mine = first_tip(server, "a conversation here")
    theirs = first_tip(other, "a conversation on another tip line")
    assert install_salt(server.data_dir) != install_salt(other.data_dir)
    wrong = codename.new_codename()
    pages = {}
    for name, typed in {
        "wrong": wrong,
        "other installation": theirs,
        "malformed": "not a codename at all",
        "unknown word": " ".join(["zzzz"] * 7),
        "huge": "word " * 5000,
    }.items():
        r = login(server, typed)
        pages[name] = (r.status, r.body.replace(token(server, "/conversation").encode(), b"TOKEN"))
        assert r.header("Set-Cookie") is None or SESSION not in r.header("Set-Cookie")
    assert len(set(pages.values())) == 1, {k: v[0] for k, v in pages.items()}
    status, body = pages["wrong"]
    assert status == 401 and b"did not open a conversation" in body
    assert login(server, mine).status == 200


def test_follow_up_lands_in_the_same_conversation(server, keydir, export_and_decrypt):
    words = first_tip(server, "the first tip")
    conv = conversation(server, words)
    server.cookies.pop(SESSION, None)
    assert login(server, words).status == 200
    marker = f"follow-up-{secrets.token_hex(6)}"
    r = server.post_form(
        [("csrf_token", token(server, "/conversation")), ("message", marker)],
        [("files", "more.txt", marker.encode() * 3, "text/plain")],
        path="/conversation/send",
    )
    assert r.status == 303 and r.header("Location") == "/thanks"
    kinds = [e.kind for e in store(server).thread(conv.id)]
    assert kinds == ["submission", "submission"]
    assert scan(marker.encode(), server.data_dir, server.tmp_dir) == []  # sealed on arrival
    out = export_and_decrypt(server)
    (msg,) = [p for p in out.rglob("message.txt") if p.read_text() == marker]
    assert (msg.parent / "files" / "more.txt").read_bytes() == marker.encode() * 3
    server.cookies.pop(SESSION, None)


def test_follow_up_without_a_session_keeps_nothing(server):
    server.cookies.pop(SESSION, None)
    before = (server.submission_count(), server.stored())
    r = server.post_form(
        [("csrf_token", token(server, "/conversation")), ("message", "x")], path="/conversation/send"
    )
    assert r.status == 403 and b"Enter your codename again" in r.body
    server.cookies[SESSION] = "forged" + "A" * 80  # not sealed by this server: no session either
    r = server.post_form(
        [("csrf_token", token(server, "/conversation")), ("message", "x")], path="/conversation/send"
    )
    assert r.status == 403
    assert (server.submission_count(), server.stored()) == before
    server.cookies.pop(SESSION, None)


def test_delete_a_reply_then_leave(server, keydir):
    words = first_tip(server, "tip for deleting")
    keep, drop = f"keep {secrets.token_hex(4)}", f"drop {secrets.token_hex(4)}"
    add_reply(server, keydir, words, keep)
    rid = add_reply(server, keydir, words, drop)
    assert sorted(reply_texts(login(server, words))) == sorted([keep, drop])
    fields = {"csrf_token": token(server, "/conversation"), "reply_id": rid}
    r = server.post_urlencoded("/conversation/delete", fields)
    assert r.status == 200 and b"The reply was deleted." in r.body
    (gone,) = [e for e in store(server).thread(conversation(server, words).id) if e.id == rid]
    assert gone.deleted_by_source and not (server.data_dir / "store" / "replies" / rid).exists()
    assert server.post_urlencoded("/conversation/delete", fields).status == 404
    assert reply_texts(login(server, words)) == [keep]

    r = server.post_urlencoded("/conversation/leave", {"csrf_token": token(server, "/conversation")})
    assert r.status == 200 and b"You have left the conversation" in r.body
    cleared = set_cookie(r, SESSION).lower()
    assert "max-age=0" in cleared or "expires=thu, 01 jan 1970" in cleared
    server.cookies.pop(SESSION, None)
    page = server.get("/conversation").body
    assert b'id="conversation" aria-labelledby="replies-title" hidden' in page


def test_javascript_exchange_sends_only_the_verifier(server, keydir):
    words = first_tip(server, "tip for the browser exchange")
    text = f"reply for the browser {secrets.token_hex(4)}"
    rid = add_reply(server, keydir, words, text)
    d = codename.derive(words, install_salt(server.data_dir))
    fields = {"csrf_token": token(server, "/conversation"), "verifier": b64url(d.verifier)}
    server.cookies.pop(SESSION, None)
    r = server.request(
        "POST",
        "/conversation",
        body="&".join(f"{k}={v}" for k, v in fields.items()).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    assert r.status == 200
    answer = json.loads(r.body)
    (reply,) = answer["replies"]
    assert reply["id"] == rid and len(reply["hour"]) >= 13
    assert base64.b64decode(reply["envelope"]) == store(server).reply_envelope(rid)
    assert text.encode() not in r.body  # the server sends the envelope, never the text
    set_cookie(r, SESSION)
    for bad in (
        b64url(codename.derive(codename.new_codename(), install_salt(server.data_dir)).verifier),
        "x" * 43,
        "",
    ):
        r = server.request(
            "POST",
            "/conversation",
            body=f"csrf_token={fields['csrf_token']}&verifier={bad}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        assert r.status == 401 and "did not open a conversation" in json.loads(r.body)["error"]
    server.cookies.pop(SESSION, None)


@pytest.fixture
def capped(tmp_path, keydir):
    """One worker, one derivation at a time: the cap is easy to reach."""
    srv = make_server(tmp_path / "capped", keydir / "journalist.pub")
    (srv.data_dir / "tipline.toml").write_text("max_logins_in_flight = 1\nworkers = 1\n")
    srv.start()
    yield srv
    srv.stop()


def test_login_flood_is_capped_and_the_form_keeps_working(capped, keydir):
    words = first_tip(capped, "a tip with replies")
    for i in range(5):
        add_reply(capped, keydir, words, f"reply {i} " * 500)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def flood(typed: str) -> None:
        tok = token(capped, "/conversation")
        body = f"csrf_token={tok}&codename={typed.replace(' ', '+')}".encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"tipline_csrf={capped.cookies['tipline_csrf']}",
        }
        while not stop.is_set():
            r = capped.request("POST", "/conversation", body=body, headers=headers, cookies=False)
            with lock:
                statuses[r.status] += 1
            if r.status == 503:
                assert b"Too many people are opening conversations" in r.body and b"Traceback" not in r.body

    threads = [threading.Thread(target=flood, args=(words if i % 2 else "wrong words",)) for i in range(12)]
    for t in threads:
        t.start()
    tips = []
    try:
        for i in range(8):
            r = capped.post_form([("csrf_token", token(capped)), ("message", f"tip during the flood {i}")])
            tips.append(r.status)
        while statuses[503] == 0 and sum(statuses.values()) < 5000:
            stop.wait(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert tips == [200] * 8
    assert statuses[503] > 0, statuses
    assert statuses[200] + statuses[401] > 0, statuses
    assert set(statuses) <= {200, 401, 503}, statuses
