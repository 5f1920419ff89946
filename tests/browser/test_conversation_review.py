"""Leaving a conversation in a real Chromium, then pressing Back (the security review of issue 10).

With JavaScript off the login is a form POST whose body holds the codename, and the
page it answered sits in the tab's history. Back after leaving made Chromium send
that POST again: the server logged the browser in anew and showed every reply. Now
leaving replaces the CSRF cookie, so the old POST is refused and shows nothing.
"""

from __future__ import annotations

import secrets

import pytest

from tests.browser.test_source_conversation import LONG, log_in, reply_texts
from tests.web.conversations import add_reply, first_tip


@pytest.mark.parametrize("mode", ["js-off", "wasm"])
def test_back_after_leaving_shows_no_reply_and_makes_no_session(open_tab, site, keydir, mode):
    words = first_tip(site, f"tip for back after leave, {mode}")
    reply = f"a reply nobody should see again {secrets.token_hex(6)}"
    add_reply(site, keydir, words, reply)
    tab = open_tab(mode, site)
    log_in(tab, words)
    tab.page.locator("#replies .reply").first.wait_for(timeout=LONG)
    assert reply_texts(tab) == [reply]
    tab.page.click("#leave")
    tab.page.wait_for_selector("text=You have left the conversation")
    assert not [c for c in tab.page.context.cookies() if c["name"] == "tipline-source"]

    tab.page.go_back()
    tab.page.wait_for_load_state()
    assert reply not in tab.page.inner_text("body")
    assert not [c for c in tab.page.context.cookies() if c["name"] == "tipline-source"]
