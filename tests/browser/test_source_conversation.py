"""The source's side of a conversation in a real Chromium against a real `tipline serve`.

In every mode (wasm, no-wasm, jitless, js-off): a first tip shows a codename in
#codename and opens a conversation; the source logs in with it, reads a reply
sealed in Python to the source's key and the journalist's, deletes it, sends a
follow-up into the same conversation (decrypted with the real offline tool),
and leaves. With JavaScript on, no request or response body holds the codename
or the reply's text. Codenames cross: made by the server and used in the
browser, made in the browser and used without JavaScript. axe-core checks
every new page, light and dark.
"""

from __future__ import annotations

import re
import secrets

import pytest

from tests.browser.axe import SCRIPTS, check_axe
from tests.browser.conftest import (
    MODES,
    THANKS,
    Tab,
    browser_sent,
    export_and_decrypt,
    first_done,
    scan,
    send_tip,
)
from tests.conftest import unavailable
from tests.web.conversations import add_reply, conversation, first_tip, store
from tipline.format import codename

ALL = [*MODES, "js-off"]
LONG = 180_000  # ms: sodium-sumo.js without JIT or WebAssembly takes its time to start


def watch_responses(tab: Tab) -> list:
    """Every response to a POST, to read its body afterwards."""
    seen: list = []

    def keep(r) -> None:
        if r.request.method == "POST":
            try:
                seen.append((r.url, r.body()))  # now: a page navigated away from drops its body
            except Exception as e:
                seen.append((r.url, str(e).encode()))

    tab.page.on("response", keep)
    return seen


def no_secret_crossed(tab: Tab, responses: list, *secrets_: str) -> None:
    """No captured request or response body holds any of the secrets (JavaScript on only)."""
    for url, body in tab.posts:
        for s in secrets_:
            assert s.encode() not in (body or b""), (url, s)
    for url, body in responses:
        for s in secrets_:
            assert s.encode() not in body, (url, s)


def log_in(tab: Tab, typed: str) -> None:
    tab.goto("/conversation")
    tab.page.fill("#codename-entry", typed)
    tab.page.click("#open")


# The login status once the page has answered (not while it works).
SETTLED = """() => {
  const t = document.getElementById("login-status").textContent;
  return t !== "" && !t.startsWith("Opening");
}"""


def reply_texts(tab: Tab) -> list[str]:
    return tab.page.locator("#replies .reply .reply-text").all_inner_texts()


@pytest.mark.parametrize("mode", ALL)
def test_first_tip_shows_the_codename_and_opens_a_conversation(open_tab, site, tmp_path, mode):
    tab = open_tab(mode, site)
    responses = watch_responses(tab)
    marker = f"first-{mode}-{secrets.token_hex(6)}"
    send_tip(tab, marker, [])
    words = first_done(tab.page)
    assert "Write it on paper" in tab.page.inner_text("main")
    conv = conversation(site, words)  # the browser's derivation is the server's
    assert [e.kind for e in store(site).thread(conv.id)] == ["submission"]
    assert tab.problems() == []
    if mode == "js-off":
        assert tab.page.url == site.url + "/submit"  # the POST's own answer: the codename is in no URL
        return
    assert tab.page.url == site.url + "/"  # shown in the page, without navigating
    assert tab.page.locator("#tip-form").count() == 0  # the form, and what was typed, are gone
    url, _body, _envelopes = browser_sent(tab)
    assert url == site.url + "/submit?sealed=browser"
    no_secret_crossed(tab, responses, words, marker)


@pytest.mark.parametrize("mode", ALL)
def test_log_in_read_delete_follow_up_and_leave(open_tab, site, keydir, tmp_path, mode):
    # Made by the server (JavaScript off): used here in every mode, one of the two crossings.
    words = first_tip(site, f"tip for {mode}")
    reply = f"A question from the newsroom <i>{mode}</i> & more, ünïcödé {secrets.token_hex(6)}"
    rid = add_reply(site, keydir, words, reply)
    tab = open_tab(mode, site)
    responses = watch_responses(tab)
    log_in(tab, "  " + words.upper().replace(" ", "\n", 2) + " ")
    tab.page.locator("#replies .reply").first.wait_for(timeout=LONG)
    assert reply_texts(tab) == [reply]
    assert tab.page.locator("#replies .reply i").count() == 0  # text, never HTML
    assert tab.page.is_visible("#conversation") and tab.page.is_hidden("#login-form")
    assert scan(reply.encode(), site.data_dir, site.tmp_dir) == []  # opened in memory, on any path
    if mode != "js-off":
        assert tab.page.url == site.url + "/conversation"
        no_secret_crossed(tab, responses, words, reply)
        assert any(b'"envelope"' in body for _url, body in responses)  # the envelopes were read here
        assert tab.page.input_value("#codename-entry") == ""

    tab.page.click(".delete-reply")
    if mode == "js-off":
        tab.page.wait_for_selector("#notice")
        assert "The reply was deleted." in tab.page.inner_text("#notice")
    else:
        tab.page.wait_for_selector("#replies .reply", state="detached")
        assert "The reply was deleted." in tab.page.inner_text("#reply-status")
        assert tab.page.is_visible("#replies-none")
    conv = conversation(site, words)
    (entry,) = [e for e in store(site).thread(conv.id) if e.kind == "reply"]
    assert entry.id == rid and entry.deleted_by_source

    marker = f"FOLLOWUP-{mode}-{secrets.token_hex(6)}"
    note = tmp_path / "more.txt"
    note.write_text(f"more evidence {marker}")
    tab.page.fill("#message", marker)
    tab.page.set_input_files("#files", [str(note)])
    tab.page.click("#send")
    tab.page.wait_for_url(site.url + "/thanks", timeout=LONG)
    assert tab.page.inner_text("h1") == "Thank you. Your message has arrived."
    assert [e.kind for e in store(site).thread(conv.id, include_deleted=False)] == ["submission"] * 2
    if mode != "js-off":
        no_secret_crossed(tab, responses, words, reply, marker)
    out = export_and_decrypt(site, keydir, tmp_path)
    (msg,) = [p for p in out.rglob("message.txt") if p.read_text() == marker]
    assert (msg.parent / "files" / "more.txt").read_text() == f"more evidence {marker}"

    tab.goto("/conversation")  # the session lasts; the replies need the codename again
    assert tab.page.is_visible("#conversation") and tab.page.is_visible("#replies-locked")
    tab.page.click("#leave")
    tab.page.wait_for_selector("text=You have left the conversation")
    assert not [c for c in tab.page.context.cookies() if c["name"] == "tipline-source"]
    tab.goto("/conversation")
    assert tab.page.is_hidden("#conversation")
    assert tab.problems() == []


def test_browser_codename_works_without_javascript(open_tab, site, keydir):
    """The other crossing: made by libsodium in the page, used with JavaScript off."""
    made_in = open_tab("jitless", site)
    send_tip(made_in, "made in the browser", [])
    words = first_done(made_in.page)
    reply = f"reply to a browser codename {secrets.token_hex(4)}"
    add_reply(site, keydir, words, reply)
    used = open_tab("js-off", site)
    log_in(used, words)
    used.page.locator("#replies .reply").first.wait_for()
    assert reply_texts(used) == [reply]


@pytest.mark.parametrize("mode", ["wasm", "js-off"])
def test_wrong_and_malformed_codenames_get_one_calm_page(open_tab, site, mode):
    tab = open_tab(mode, site)
    seen = set()
    for typed in (codename.new_codename(), "seven words that are not a codename at all"):
        log_in(tab, typed)
        if mode == "js-off":
            text = tab.page.inner_text("#login-error")
        else:
            tab.page.wait_for_function(SETTLED, timeout=LONG)
            text = tab.page.inner_text("#login-status")
        seen.add(text.split(".")[0])
    if mode == "js-off":  # the server's one page for both
        assert seen == {"That codename did not open a conversation"}
    else:  # the page checks the words itself before deriving: a typo is said, and nothing is sent
        assert "That codename did not open a conversation" in seen
    assert tab.page.is_hidden("#conversation")
    # The refusal is a 401, which Chromium's console reports; nothing else may be there.
    assert [p for p in tab.problems() if "status of 401" not in p] == []


# -- axe-core on every new page ----------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_new_pages_pass_axe(open_tab, site, keydir, scheme):
    from tests.browser.conftest import AXE

    if not AXE.is_file():
        unavailable(f"{AXE} is missing (run `npm ci`)")
    tab = open_tab("wasm", site, record_bodies=False, bypass_csp=True, color_scheme=scheme)
    send_tip(tab, f"axe {scheme}", [])
    check_axe(tab, "/ with the codename shown")
    words = first_done(tab.page)
    add_reply(site, keydir, words, "a reply to check with axe")
    log_in(tab, "not seven words")
    tab.page.wait_for_function(SETTLED)
    check_axe(tab, "/conversation with a local error")
    log_in(tab, words)
    tab.page.locator("#replies .reply").first.wait_for()
    check_axe(tab, "/conversation with replies")
    tab.goto("/conversation")
    check_axe(tab, "/conversation with a session, replies locked")
    for path in ("/thanks",):
        tab.goto(path)
        check_axe(tab, path)
    tab.goto("/conversation")
    tab.page.click("#leave")
    tab.page.wait_for_selector("text=You have left the conversation")
    check_axe(tab, "left")

    # The pages the server renders for JavaScript off, brought about with the scripts refused.
    off = open_tab("wasm", site, record_bodies=False, bypass_csp=True, color_scheme=scheme)
    off.page.route(SCRIPTS, lambda route: route.abort())
    off.goto("/")
    off.page.fill("#message", f"axe without scripts {scheme}")
    off.page.click("#send")
    words = first_done(off.page)
    check_axe(off, "the codename page")
    log_in(off, codename.new_codename())
    off.page.wait_for_selector("#login-error")
    check_axe(off, "/conversation, wrong codename")
    add_reply(site, keydir, words, "a reply rendered by the server")
    log_in(off, words)
    off.page.wait_for_selector("#replies .reply")
    check_axe(off, "/conversation with replies rendered by the server")
    off.page.click(".delete-reply")
    off.page.wait_for_selector("#notice")
    check_axe(off, "/conversation after a delete")
    assert re.search(r"/conversation/delete$", off.page.url)
    assert THANKS  # the first page's title, checked by first_done
