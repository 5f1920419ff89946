"""Findings of the security review of conversations, each against a real `tipline serve` (gunicorn).

A session cookie renewed page after page never outlives its login's cap, so a
copy taken before the source left dies on its own; leaving clears the cookie
with the attributes it was set with, and replaces the CSRF cookie, so that a
login sent again from the tab's history is refused; and a first tip whose source key nothing
can be sealed to is refused before it opens a conversation nobody could answer.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import time

import nacl.encoding
import nacl.secret
import pytest

from tests.web.conversations import conversation, first_tip, login, token
from tests.web.server import make_server
from tipline.format.keys import PublicKey
from tipline.format.payload import Metadata
from tipline.format.stream import seal_bytes

SESSION = "tipline-source"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def session_cookie(r) -> str:
    (c,) = [c for c in r.headers.get_all("Set-Cookie") or [] if c.startswith(SESSION + "=")]
    return c


def opened(srv, cookie: str) -> bytes:
    """The cookie's sealed content, opened with the server's own key (the test owns its data folder)."""
    box = nacl.secret.SecretBox((srv.data_dir / "source" / "session.key").read_bytes())
    value = cookie.split(";")[0].split("=", 1)[1]
    return box.decrypt(value.encode(), encoder=nacl.encoding.URLSafeBase64Encoder)


def logged_in(srv) -> bool:
    page = srv.get("/conversation").body
    return b'id="conversation" aria-labelledby="replies-title" hidden' not in page


@pytest.fixture(scope="module")
def short(tmp_path_factory, keydir):
    """Sessions of one minute at most, however often renewed: the cap is reached in a test."""
    srv = make_server(tmp_path_factory.mktemp("short"), keydir / "journalist.pub")
    (srv.data_dir / "tipline.toml").write_text(
        "workers = 1\nsource_session_minutes = 1\nsource_session_max_minutes = 1\n"
    )
    srv.start()
    yield srv
    srv.stop()


def test_a_renewed_session_never_outlives_its_login(short):
    """Each page renews the session, but never past the cap after the login: a copy dies on its own."""
    words = first_tip(short, "tip for the session cap")
    r = login(short, words)
    assert r.status == 200
    (expiry_at_login,) = struct.unpack(">Q", opened(short, session_cookie(r))[:8])
    time.sleep(1.5)  # so that a renewal from now would reach later than the login's cap
    r = short.get("/conversation")
    assert logged_in(short)
    (renewed,) = struct.unpack(">Q", opened(short, session_cookie(r))[:8])
    assert renewed == expiry_at_login  # idle 1 minute, cap 1 minute: the renewal cannot extend it
    # A login starts a new session, with a new cap.
    time.sleep(1.5)
    r = login(short, words)
    (after_login,) = struct.unpack(">Q", opened(short, session_cookie(r))[:8])
    assert after_login > expiry_at_login
    short.cookies.pop(SESSION, None)


def test_a_session_older_than_its_cap_is_no_session(short):
    """Sealed by the server, not yet expired, but its login was longer ago than the cap: logged out."""
    cid = conversation(short, first_tip(short, "tip for an old session")).id
    box = nacl.secret.SecretBox((short.data_dir / "source" / "session.key").read_bytes())

    def sealed(expiry: float, started: float) -> str:
        plain = struct.pack(">QQ", int(expiry), int(started)) + cid.encode()
        return box.encrypt(plain, encoder=nacl.encoding.URLSafeBase64Encoder).decode()

    now = time.time()
    for value, live in (
        (sealed(now + 30, now - 10), True),  # the check itself
        (sealed(now + 30, now - 61), False),  # renewed past its login's cap
        (sealed(now + 30, now + 3600), False),  # a login in the future is no login
    ):
        short.cookies[SESSION] = value
        assert logged_in(short) is live
    short.cookies.pop(SESSION, None)


def test_leaving_clears_the_cookie_with_the_attributes_it_was_set_with(server):
    """A browser ignores a Secure (or __Host-) cookie cleared without Secure: leaving would not leave."""
    words = first_tip(server, "tip for leaving over a public host")
    host = {"Host": "tips.example.org", "Content-Type": "application/x-www-form-urlencoded"}
    tok = token(server, "/conversation")
    body = f"csrf_token={tok}&codename={words.replace(' ', '+')}".encode()
    r = server.request("POST", "/conversation", body=body, headers=host)
    assert r.status == 200
    set_attrs = {a.strip().lower() for a in session_cookie(r).split(";")[1:]}
    r = server.request(
        "POST",
        "/conversation/leave",
        body=f"csrf_token={tok}".encode(),
        headers=host,
    )
    assert r.status == 200
    cleared = {a.strip().lower() for a in session_cookie(r).split(";")[1:]}
    assert "secure" in set_attrs and "secure" in cleared
    assert {"httponly", "samesite=strict", "path=/"} <= cleared
    server.cookies.pop(SESSION, None)


def test_a_login_sent_again_after_leaving_is_refused(server):
    """With JavaScript off, Back after leaving sends the login's POST again, codename and token and
    all: leaving replaces the CSRF cookie, so that POST is refused and makes no session."""
    words = first_tip(server, "tip for a login sent again")
    fields = {"csrf_token": token(server, "/conversation"), "codename": words}
    assert server.post_urlencoded("/conversation", fields).status == 200
    r = server.post_urlencoded("/conversation/leave", {"csrf_token": fields["csrf_token"]})
    assert r.status == 200 and "tipline_csrf=" in " ".join(r.headers.get_all("Set-Cookie"))
    server.cookies.pop(SESSION, None)
    again = server.post_urlencoded("/conversation", fields)
    assert again.status == 403 and SESSION not in " ".join(again.headers.get_all("Set-Cookie") or [])
    assert not logged_in(server)


# The all-zero point, the identity, and a point of order 8: X25519 gives an all-zero secret for each.
SMALL_ORDER = [
    bytes(32),
    b"\x01" + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
]


@pytest.mark.parametrize("key", SMALL_ORDER, ids=["zero", "identity", "order-8"])
def test_a_first_tip_with_a_key_nobody_can_seal_to_is_refused(server, keydir, key):
    """Before, it opened a conversation whose every reply failed (a 500 in the journalist app, a
    traceback from tipline-offline reply); now it is refused at once, and nothing is kept."""
    journalist = PublicKey.from_text((keydir / "journalist.pub").read_text())
    env = seal_bytes(b"a tip with a broken key", Metadata("message"), [journalist])
    before = (server.submission_count(), server.stored())
    r = server.post_form(
        [("csrf_token", token(server))],
        [("envelope", "0.envelope", env, "application/octet-stream")],
        path="/submit?sealed=browser",
        headers={
            "Accept": "application/json",
            "Tipline-Source-Public-Key": b64url(key),
            "Tipline-Verifier": b64url(os.urandom(32)),
        },
    )
    assert r.status == 400, r.body[:300]
    assert "cannot be used to send you replies" in json.loads(r.body)["error"]
    assert (server.submission_count(), server.stored()) == before
