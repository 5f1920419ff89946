"""Replies from the journalist app in Chromium: sealed in the browser, sealed on the server, uploaded.

Each reply is opened again in Python with the newsroom's key and with the source's secret
key, derived from a real codename. With JavaScript on, the reply's text is in no request
the browser sent; with it off, it is nowhere on the server's disk. axe-core checks the
new pages, light and dark.
"""

from __future__ import annotations

import io
import re

import pytest

from tests.browser.conftest import AXE
from tests.browser.test_browser_journalist import AXE_RUN
from tests.conftest import unavailable
from tests.store.conversation_helpers import reply_envelope
from tests.web.logins import PASSPHRASE
from tests.web.newsroom import newsroom_secret, opens, reply_rows, start_newsroom, unknown_id
from tipline.store.replies import MAX_REPLY_ENVELOPE


@pytest.fixture(scope="module")
def room(tmp_path_factory, keydir):
    nr = start_newsroom(tmp_path_factory.mktemp("replies"), keydir)
    yield nr
    nr.stop()


@pytest.fixture(scope="module")
def newsroom_key(keydir):
    return newsroom_secret(keydir)


def logged_in(room, open_tab, mode: str, **options):
    """A tab on the journalist app, logged in as a new journalist (a TOTP code works once)."""
    name = room.enrol("j" + unknown_id().lower().replace("-", "").replace("_", "")[:12])
    tab = open_tab(mode, room.journalist, **options)
    tab.goto("/login")
    tab.page.fill("#name", name)
    tab.page.fill("#passphrase", PASSPHRASE)
    tab.page.fill("#code", room.totp[name].now())
    tab.page.click("button[type=submit]")
    tab.page.wait_for_url(room.journalist.url + "/")
    tab.name = name
    return tab


def the_reply(room, cid: str):
    (row,) = [row for row in reply_rows(room.data_dir) if row[1] == cid]
    return row


@pytest.mark.parametrize("mode", ["wasm", "jitless"])
def test_a_reply_sealed_in_the_browser(room, open_tab, newsroom_key, mode):
    cid, source = room.open_conversation("a tip that needs a question")
    tab = logged_in(room, open_tab, mode)
    tab.goto(f"/conversations/{cid}")
    tab.page.wait_for_selector("#reply-form[data-crypto=ready]")
    assert "Your browser will encrypt your reply" in tab.page.inner_text("#reply-note")
    marker = f"MARKER-{unknown_id()}"
    text = f"Who else saw the ledger? {marker} ünïcode ✓"
    tab.page.fill("#reply", text)
    tab.page.click("#send-reply")
    tab.page.wait_for_url(re.compile(r".*\?sent=1$"))

    rid, _, who, sealed_by, _ = the_reply(room, cid)
    assert (who, sealed_by) == (tab.name, "browser")
    envelope = room.convs.reply_envelope(rid)
    assert opens(envelope, newsroom_key) == text
    assert opens(envelope, source.secret_key) == text
    posts = [(url, body) for url, body in tab.posts if "/conversations/" in url]
    assert [url for url, _ in posts] == [f"{room.journalist.url}/conversations/{cid}/envelope?sealed=browser"]
    for _, body in posts:
        assert body and envelope in body  # the envelope, as kept
        for needle in (text, marker, "ünïcode"):
            assert needle.encode("utf-8") not in body
    shown = tab.page.locator(f".reply[data-reply-id='{rid}']")
    assert f"Reply from {tab.name}" in shown.inner_text()
    assert tab.problems() == []


def test_without_its_crypto_script_the_page_says_the_server_will_seal(room, open_tab, newsroom_key):
    """sodium.js blocked (or failing its integrity check): the note says so before anything is sent."""
    cid, source = room.open_conversation("blocked script")
    tab = logged_in(room, open_tab, "wasm")
    tab.page.route("**/static/js/sodium.js", lambda route: route.abort())
    tab.goto(f"/conversations/{cid}")
    tab.page.wait_for_selector("#reply-form[data-crypto=failed]")
    assert "the server will encrypt it in memory" in tab.page.inner_text("#reply-note")
    tab.page.fill("#reply", "sealed on the server instead")
    tab.page.click("#send-reply")
    tab.page.wait_for_url(re.compile(r".*\?sent=1$"))
    rid, _, _, sealed_by, _ = the_reply(room, cid)
    assert sealed_by == "server"
    assert opens(room.convs.reply_envelope(rid), source.secret_key) == "sealed on the server instead"


def test_a_reply_with_javascript_off(room, open_tab, newsroom_key):
    cid, source = room.open_conversation("no scripts here")
    tab = logged_in(room, open_tab, "js-off")
    tab.goto(f"/conversations/{cid}")
    marker = f"MARKER-{unknown_id()}"
    text = f"Please call the desk. {marker}\nSecond line."
    tab.page.fill("#reply", text)
    tab.page.click("#send-reply")
    tab.page.wait_for_url(re.compile(r".*\?sent=1$"))
    assert "Your reply was encrypted and kept" in tab.page.inner_text("#reply-sent")

    rid, _, who, sealed_by, _ = the_reply(room, cid)
    assert (who, sealed_by) == (tab.name, "server")
    envelope = room.convs.reply_envelope(rid)
    sent = text.replace("\n", "\r\n")  # a form posts a textarea's lines as CRLF
    assert opens(envelope, newsroom_key) == sent
    assert opens(envelope, source.secret_key) == sent
    on_disk = [p for p in room.data_dir.rglob("*") if p.is_file() and marker.encode() in p.read_bytes()]
    assert on_disk == []
    assert tab.page.locator(f".reply[data-reply-id='{rid}']").count() == 1


def test_an_offline_envelope_uploaded_and_one_refused(room, open_tab, newsroom_key, tmp_path):
    cid, source = room.open_conversation("answer it offline")
    tab = logged_in(room, open_tab, "wasm")
    good = tmp_path / "reply.envelope"
    good.write_bytes(reply_envelope("written offline", source.public_key, room.newsroom_key))
    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"just some notes")

    tab.goto(f"/conversations/{cid}")
    tab.page.set_input_files("#reply-file", str(bad))
    tab.page.click("#upload-reply")
    tab.page.wait_for_selector("h1:has-text('The reply was not kept')")
    assert "not a reply envelope" in tab.page.inner_text("main")
    assert [row for row in reply_rows(room.data_dir) if row[1] == cid] == []

    tab.page.click("text=Back to the conversation")
    tab.page.set_input_files("#reply-file", str(good))
    tab.page.click("#upload-reply")
    tab.page.wait_for_url(re.compile(r".*\?sent=1$"))
    rid, _, who, sealed_by, _ = the_reply(room, cid)
    assert (who, sealed_by) == (tab.name, "offline")
    assert room.convs.reply_envelope(rid) == good.read_bytes()
    assert opens(good.read_bytes(), newsroom_key) == "written offline"
    refused = "Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"
    assert tab.problems() == [refused]  # the refusal's own page, and nothing else


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_conversation_pages_pass_axe(room, open_tab, scheme):
    if not AXE.is_file():
        unavailable(f"{AXE} is missing (run `npm ci`)")
    cid, source = room.open_conversation("axe")
    envelope = reply_envelope("q", source.public_key, room.newsroom_key)
    room.convs.add_reply(cid, io.BytesIO(envelope), "ana", "offline", MAX_REPLY_ENVELOPE)
    # bypass_csp only so axe can be injected; the pages themselves carry no inline code.
    tab = logged_in(room, open_tab, "wasm", bypass_csp=True, color_scheme=scheme)
    axe = AXE.read_text("utf-8")

    def check(what: str) -> None:
        tab.page.add_script_tag(content=axe)
        assert tab.page.evaluate(AXE_RUN) == [], (what, scheme)

    tab.page.wait_for_selector("section.conversation")
    check("the list, grouped")
    tab.goto(f"/conversations/{cid}")
    tab.page.wait_for_selector("#reply-form[data-crypto=ready]")
    check("the conversation page")
    tab.page.fill("#reply", "é" * 40_000)  # over the limit: the page says so
    tab.page.click("#send-reply")
    tab.page.wait_for_selector("#reply-status:has-text('longer than')")
    check("the conversation page with a refusal")
    tab.page.set_input_files("#reply-file", {"name": "x.txt", "mimeType": "text/plain", "buffer": b"x"})
    tab.page.click("#upload-reply")
    tab.page.wait_for_selector("h1:has-text('The reply was not kept')")
    check("a refused upload")
    tab.goto(f"/conversations/{cid}")
    tab.page.click("button:has-text('Delete this conversation')")
    tab.page.wait_for_selector("text=Delete for good")
    check("deleting a conversation")
    tab.page.click("button:has-text('Delete for good')")
    assert "Deleted 1 conversation too" in tab.page.inner_text("main")
    assert room.convs.get(cid) is None
