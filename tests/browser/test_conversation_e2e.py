"""The whole conversation, end to end, in every browser mode a source may have.

For each mode (WebAssembly, no WebAssembly, jitless, JavaScript off) the
source sends a first tip from the real form and gets a codename. The
newsroom then answers three ways: in the journalist app with JavaScript (the
journalist's browser seals), in the journalist app without it (the server
seals), and on the air-gapped machine (`tipline-offline reply`, uploaded
through the journalist app). The source comes back with the codename, typed
carelessly, reads all three replies and sends a follow-up. The real
`tipline-offline decrypt` then shows the whole thread, and no plaintext of
any of it is on the server's disk or, with JavaScript on, in any request
the source's browser made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import Tab
from tests.conftest import decrypt_with, run_offline, run_tipline
from tests.web.logins import PASSPHRASE
from tests.web.newsroom import Newsroom, start_newsroom

# Not no-wasm: jitless takes the same wasm2js path (no WebAssembly) with the JIT off too, and
# test_source_conversation.py and test_source_page.py run each step of this flow in no-wasm.
SOURCE_MODES = ("wasm", "jitless", "js-off")


@pytest.fixture
def newsroom(tmp_path, keydir) -> Iterator[Newsroom]:
    room = start_newsroom(tmp_path / "room", keydir)
    try:
        yield room
    finally:
        room.stop()


def journalist_tab(open_tab, room: Newsroom, name: str, js: bool) -> Tab:
    """A journalist logged in to the journalist app in Chromium, with or without JavaScript."""
    room.enrol(name)
    tab = open_tab("wasm" if js else "js-off", room.journalist)
    tab.goto("/login")
    tab.page.fill("#name", name)
    tab.page.fill("#passphrase", PASSPHRASE)
    tab.page.fill("#code", room.totp[name].now())
    tab.page.click("button[type=submit]")
    tab.page.wait_for_load_state()
    assert not tab.page.url.endswith("/login"), tab.page.inner_text("main")
    return tab


def reply_count(tab: Tab) -> int:
    return tab.page.locator(".reply").count()


def send_web_reply(tab: Tab, cid: str, text: str) -> None:
    tab.goto(f"/conversations/{cid}")
    before = reply_count(tab)
    tab.page.fill("#reply", text)
    tab.page.click("#send-reply")
    tab.page.locator(".reply").nth(before).wait_for()


def export(room: Newsroom, work: Path, out: Path) -> Path:
    """The real `tipline export`, then the real `tipline-offline decrypt` into `out` (re-runs add to it)."""
    work.mkdir(parents=True, exist_ok=True)
    bundle = work / f"bundle-{len(list(work.glob('bundle-*.tar')))}.tar"
    run_tipline("export", "--data-dir", str(room.data_dir), "--out", str(bundle))
    r = decrypt_with(room.keydir, out, bundle)
    assert r.returncode == 0, r.stderr
    return out


def every_byte_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.mark.parametrize("mode", SOURCE_MODES)
def test_a_conversation_round_trips(mode, open_tab, newsroom, tmp_path):
    room = newsroom
    first = f"First tip, sent with {mode}: the ledger is in the basement."
    web_js = f"Reply sealed in the journalist's browser, for {mode}: which basement?"
    web_server = f"Reply sealed by the server, for {mode}: can you send the ledger?"
    offline = f"Reply written offline, for {mode}: thank you, we are checking."
    follow_up = f"Follow-up from {mode}: the basement of the town hall."

    # 1. The first tip, from the real form, gives a codename.
    source = open_tab(mode, room.source)
    source.goto("/")
    source.page.fill("#message", first)
    source.page.click("#send")
    source.page.wait_for_selector("#codename:not(:empty)")
    codename = source.page.inner_text("#codename").strip()
    assert len(codename.split()) == 7
    (conversation,) = room.convs.list()
    cid = conversation.id

    # 2. Three replies: journalist app with JavaScript, without it, and offline then uploaded.
    ana = journalist_tab(open_tab, room, "ana", js=True)
    send_web_reply(ana, cid, web_js)
    ben = journalist_tab(open_tab, room, "ben", js=False)
    send_web_reply(ben, cid, web_server)

    out = tmp_path / "tips"
    export(room, tmp_path / "bundles", out)
    folder = out / f"conversation-{cid}"
    assert json.loads((folder / "conversation.json").read_text())["conversation"] == cid
    answer = tmp_path / "answer.txt"
    answer.write_text(offline, "utf-8")
    envelope = tmp_path / "answer.envelope"
    r = run_offline("reply", str(folder), "--message-file", str(answer), "-o", str(envelope))
    assert r.returncode == 0, r.stderr
    ana.goto(f"/conversations/{cid}")
    ana.page.set_input_files("#reply-file", str(envelope))
    ana.page.click("#upload-reply")
    ana.page.locator(".reply").nth(2).wait_for()
    sealed_by = sorted(e.sealed_by for e in room.convs.thread(cid) if e.kind == "reply")
    assert sealed_by == ["browser", "offline", "server"]

    # 3. The source comes back, types the codename carelessly, and reads all three.
    back = open_tab(mode, room.source)
    back.goto("/")
    back.page.click("#continue-link")
    back.page.fill("[name=codename]", "  " + codename.upper().replace(" ", "\n  ") + " ")
    back.page.click("#open")
    back.page.locator("#replies .reply .reply-text").nth(2).wait_for()
    shown = {t.strip() for t in back.page.locator("#replies .reply .reply-text").all_inner_texts()}
    assert shown == {web_js, web_server, offline}

    # 4. ... and sends a follow-up into the same conversation.
    back.page.fill("#message", follow_up)
    back.page.click("#send")
    back.page.wait_for_url("**/thanks")
    assert back.page.inner_text("h1") == "Thank you. Your message has arrived."
    kinds = sorted(e.kind for e in room.convs.thread(cid))
    assert kinds == ["reply", "reply", "reply", "submission", "submission"]
    assert [c.id for c in room.convs.list()] == [cid]

    # 5. The offline tool shows the whole thread, in the same folder as before.
    export(room, tmp_path / "bundles", out)
    assert [p.name for p in out.iterdir()] == [f"conversation-{cid}"]
    thread = (folder / "thread.txt").read_text("utf-8")
    for text in (first, web_js, web_server, offline, follow_up):
        assert text in thread, (text, thread)
    assert "Newsroom (ana)" in thread and "Newsroom (ben)" in thread

    # 6. No plaintext on the server's disk, nor the codename; none in the source's requests.
    disk = every_byte_under(room.data_dir)
    for text in (first, web_js, web_server, offline, follow_up, codename):
        assert text.encode() not in disk, text
    assert codename.split()[0] + " " + codename.split()[1] not in disk.decode("latin-1")
    if mode != "js-off":
        sent = b"".join(body or b"" for tab in (source, back) for _url, body in tab.posts)
        for text in (first, web_js, web_server, offline, follow_up, codename):
            assert text.encode() not in sent, text
        for word in codename.split():
            assert f"codename={word}".encode() not in sent
        journalist_sent = b"".join(body or b"" for _url, body in ana.posts)
        assert web_js.encode() not in journalist_sent
    for tab in (source, back, ana):
        assert tab.problems() == [], tab.problems()
