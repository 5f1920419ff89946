"""The source page while its encryption scripts load, and when they fail to load.

sodium.js is about 1 MB; over Tor it takes seconds to arrive, and it may never
arrive (blocked, cut off, altered). These tests hold it back with a route that
answers only when the test releases it, or make it fail (aborted, 404, a body
that does not match its Subresource Integrity hash), in a real Chromium on a
real `tipline serve`. They check what the page says, what each Send does, and
that no request body ever carries the tip's plaintext while the page says the
browser will encrypt it.
"""

from __future__ import annotations

import json
import re
import secrets

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    AXE,
    MODES,
    THANKS,
    Tab,
    browser_sent,
    export_and_decrypt,
    first_done,
    submission_with,
    unavailable,
)

SERVER_NOTE = "Your tip will be encrypted on our server the moment it arrives, before it is stored."
LOADING_NOTE = (
    "Your browser is getting ready to encrypt your tip before it is sent. Over Tor this can take a minute."
)
READY_NOTE = "Your browser will encrypt your tip before it is sent, so that only our journalists can read it."
FAILED_NOTE = (
    "Your browser could not load this page's encryption script, so it cannot encrypt your tip itself. "
    "If you send it, it will be encrypted on our server the moment it arrives, before it is stored. "
    "Reloading the page may fix this."
)
QUEUED = (
    "Your tip will be encrypted and sent as soon as your browser is ready. "
    "If you would rather not wait, you can send it now to be encrypted on our server instead."
)
NOT_SENT = "Your tip was not sent. Press Send securely again to send it to be encrypted on our server."
SODIUM = re.compile(r"/static/js/sodium-sumo\.js$")
ENVELOPE = re.compile(r"/static/js/envelope\.js$")
LONG = 180_000  # ms: sodium.js without JIT or WebAssembly takes its time to start
WAIT = 30_000  # ms: a loaded CI machine can take longer than expect()'s 5 s default to run a script


def hold(tab: Tab, pattern: re.Pattern = SODIUM) -> list:
    """Hold back the responses for pattern: the routes wait in the list until the test answers them."""
    held: list = []
    tab.page.route(pattern, lambda route: held.append(route))
    return held


def open_held(tab: Tab) -> list:
    held = hold(tab)
    tab.goto("/", wait_until="commit")  # "load" waits for every deferred script, the held one too
    expect(tab.page.locator("#crypto-note")).to_have_text(LOADING_NOTE, timeout=WAIT)
    assert len(held) == 1
    return held


def check_promise_kept(tab: Tab, marker: str) -> None:
    """No request body carried the marker while the page said the browser would encrypt the tip."""
    note = None
    for event in tab.events:
        if event[0] == "note":
            note = event[1]
        elif event[2] is not None and marker.encode() in event[2]:
            assert note in (SERVER_NOTE, FAILED_NOTE), (note, event[1])


def stored_record(site, keydir, tmp_path, marker: str) -> tuple[str, dict]:
    sub = submission_with(export_and_decrypt(site, keydir, tmp_path), marker)
    return (sub / "message.txt").read_text(), json.loads((sub / "items.json").read_text())


def page_errors(tab: Tab) -> list[str]:
    return [e for e in tab.problems() if e.startswith("pageerror")]


@pytest.mark.parametrize("mode", MODES)
def test_send_while_encryption_loads_waits_then_seals_in_the_browser(open_tab, site, keydir, tmp_path, mode):
    tab = open_tab(mode, site)
    held = open_held(tab)
    marker = f"HELD-{mode}-{secrets.token_hex(8)}"
    tab.page.fill("#message", f"sent before sodium.js arrived {marker}")
    tab.page.click("#send")
    expect(tab.page.locator("#status")).to_have_text(QUEUED, timeout=WAIT)
    expect(tab.page.locator("#send-now")).to_be_visible(timeout=WAIT)
    tab.page.wait_for_timeout(500)
    assert tab.posts == []  # held, not sent: neither in plaintext nor at all

    held[0].continue_()  # sodium.js arrives: the held tip is sealed and sent without another click
    first_done(tab.page, timeout=LONG)
    assert tab.page.inner_text("h1") == THANKS
    url, _body, envelopes = browser_sent(tab)
    assert url == site.url + "/submit?sealed=browser" and len(envelopes) == 1
    assert all(marker.encode() not in (b or b"") for _m, _u, _h, b in tab.sent)
    assert tab.notes[:3] == [SERVER_NOTE, LOADING_NOTE, READY_NOTE]
    check_promise_kept(tab, marker)
    text, record = stored_record(site, keydir, tmp_path, marker)
    assert text == f"sent before sodium.js arrived {marker}" and record["sealed_by"] == "browser"
    assert page_errors(tab) == []


def test_send_now_while_loading_is_sealed_by_the_server_knowingly(open_tab, site, keydir, tmp_path):
    """Tor Browser whose sodium.js never arrives: the source can still send, and is told how."""
    tab = open_tab("wasm", site)
    open_held(tab)  # never released
    marker = f"SENDNOW-{secrets.token_hex(8)}"
    tab.page.fill("#message", f"cannot wait {marker}")
    tab.page.click("#send")
    expect(tab.page.locator("#status")).to_have_text(QUEUED, timeout=WAIT)
    assert tab.posts == []
    tab.page.click("#send-now")
    first_done(tab.page)
    ((url, body),) = tab.posts
    assert url == site.url + "/submit" and marker.encode() in body
    assert tab.notes[-1] == SERVER_NOTE  # said before the plaintext left
    check_promise_kept(tab, marker)
    text, record = stored_record(site, keydir, tmp_path, marker)
    assert text == f"cannot wait {marker}" and record["sealed_by"] == "server"
    assert page_errors(tab) == []


def _tampered(route) -> None:
    response = route.fetch()
    route.fulfill(response=response, body=response.body() + b"\n/* changed on the way */\n")


FAILURES = {
    "sodium-aborted": (SODIUM, lambda route: route.abort()),
    "sodium-404": (SODIUM, lambda route: route.fulfill(status=404, body="not here")),
    "sodium-sri-mismatch": (SODIUM, _tampered),
    "envelope-aborted": (ENVELOPE, lambda route: route.abort()),
    # upload.js and the three scripts it is made of: each is waited for, and each one lost falls back.
    **{
        f"{name}-aborted": (re.compile(rf"/static/js/{name}\.js$"), lambda route: route.abort())
        for name in ("upload-records", "upload-http", "upload-parts", "upload")
    },
}


@pytest.mark.parametrize("failure", FAILURES)
def test_scripts_that_fail_to_load_are_said_and_send_goes_to_the_server(
    open_tab, site, keydir, tmp_path, failure
):
    pattern, answer = FAILURES[failure]
    tab = open_tab("wasm", site)
    tab.page.route(pattern, answer)
    tab.goto("/")
    expect(tab.page.locator("#crypto-note")).to_have_text(FAILED_NOTE, timeout=WAIT)
    expect(tab.page.locator("#send-now")).to_be_hidden(timeout=WAIT)
    marker = f"FAILED-{failure}-{secrets.token_hex(8)}"
    tab.page.fill("#message", f"no browser crypto {marker}")
    tab.page.wait_for_timeout(300)
    assert tab.posts == []
    tab.page.click("#send")
    first_done(tab.page)
    ((url, body),) = tab.posts
    assert url == site.url + "/submit" and marker.encode() in body
    check_promise_kept(tab, marker)
    text, record = stored_record(site, keydir, tmp_path, marker)
    assert text == f"no browser crypto {marker}" and record["sealed_by"] == "server"
    assert page_errors(tab) == []


def test_a_held_tip_is_not_sent_when_the_script_then_fails(open_tab, site, keydir, tmp_path):
    tab = open_tab("wasm", site)
    held = open_held(tab)
    marker = f"HELDFAIL-{secrets.token_hex(8)}"
    tab.page.fill("#message", f"held, then the script failed {marker}")
    tab.page.click("#send")
    expect(tab.page.locator("#status")).to_have_text(QUEUED, timeout=WAIT)
    held[0].abort()
    expect(tab.page.locator("#crypto-note")).to_have_text(FAILED_NOTE, timeout=WAIT)
    expect(tab.page.locator("#status")).to_have_text(NOT_SENT, timeout=WAIT)
    expect(tab.page.locator("#send-now")).to_be_hidden(timeout=WAIT)
    tab.page.wait_for_timeout(500)
    assert tab.posts == []  # never sent to the server without a new, informed click
    tab.page.click("#send")
    first_done(tab.page)
    check_promise_kept(tab, marker)
    assert stored_record(site, keydir, tmp_path, marker)[1]["sealed_by"] == "server"


def test_without_javascript_the_page_says_the_server_encrypts(open_tab, site, keydir, tmp_path):
    tab = open_tab("js-off", site)
    tab.goto("/")
    assert tab.page.inner_text("#crypto-note") == SERVER_NOTE
    assert tab.page.is_hidden("#send-now")
    marker = f"NOJS-{secrets.token_hex(8)}"
    tab.page.fill("#message", f"no javascript {marker}")
    tab.page.click("#send")
    first_done(tab.page)
    assert stored_record(site, keydir, tmp_path, marker)[1]["sealed_by"] == "server"


AXE_RUN = """async () => {
  const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa"]}});
  return r.violations.map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", "));
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_loading_and_failed_states_pass_axe(open_tab, site, scheme):
    if not AXE.is_file():
        unavailable(f"{AXE} is missing (run `npm ci`)")
    axe = AXE.read_text("utf-8")
    # bypass_csp only so that axe can be injected; Subresource Integrity still applies.
    tab = open_tab("wasm", site, record_bodies=False, bypass_csp=True, color_scheme=scheme)
    open_held(tab)
    tab.page.fill("#message", "axe")
    tab.page.click("#send")
    expect(tab.page.locator("#send-now")).to_be_visible(timeout=WAIT)
    tab.page.add_script_tag(content=axe)
    assert tab.page.evaluate(AXE_RUN) == [], "loading, with a held tip"

    failed = open_tab("wasm", site, record_bodies=False, bypass_csp=True, color_scheme=scheme)
    failed.page.route(SODIUM, lambda route: route.abort())
    failed.goto("/")
    expect(failed.page.locator("#crypto-note")).to_have_text(FAILED_NOTE, timeout=WAIT)
    failed.page.add_script_tag(content=axe)
    assert failed.page.evaluate(AXE_RUN) == [], "failed"
