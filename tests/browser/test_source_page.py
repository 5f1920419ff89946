"""The source page in a real Chromium against a real `tipline serve` (gunicorn).

A source types a message and attaches files; the tests then export the store
with the real `tipline export`, decrypt it with the real `tipline-offline`, and
compare byte for byte. With JavaScript on (wasm, no-wasm, jitless: see
conftest.py) the browser seals, and no request body may hold any plaintext;
with JavaScript off the server seals, and no file it keeps may hold any.
Then: every request stays on the tip line's origin, no CSP violation,
axe-core finds no WCAG 2 A/AA problem, the page works on a phone, and the
page's own limits stop a tip before anything is sent.
"""

from __future__ import annotations

import json
import os
import re
import secrets

import pytest

from tests.browser.conftest import (
    AXE,
    ERROR_PAGE,
    MODES,
    browser_sent,
    export_and_decrypt,
    first_done,
    scan,
    send_tip,
    submission_with,
    unavailable,
)
from tests.conftest import submission_id

# -- the whole path, in every mode --------------------------------------------------------------


@pytest.mark.parametrize("mode", [*MODES, "js-off"])
def test_tip_roundtrip(open_tab, site, keydir, tmp_path, mode):
    marker = f"TIPMARK-{mode}-{secrets.token_hex(8)}"
    message = f"A source writes, ünïcödé ✓ 😀\nsecond line {marker}"
    big = tmp_path / f"evidence-{marker}.bin"
    big.write_bytes(f"{marker}\n".encode() + os.urandom(300_000))
    small = tmp_path / "notes.txt"
    small.write_bytes(f"notes {marker}\n".encode() * 3)

    tab = open_tab(mode, site)
    send_tip(tab, message, [big, small])
    assert tab.problems() == []
    if mode != "js-off":  # the mode held on every page (checked on /thanks)
        assert tab.page.evaluate("typeof WebAssembly") == ("object" if mode == "wasm" else "undefined")
    assert all(u.startswith(site.url + "/") for u in tab.urls), tab.urls

    sub = submission_with(export_and_decrypt(site, keydir, tmp_path), marker)
    # An HTML form sends line breaks as CRLF; the page's own script keeps the textarea's LF.
    expected = message.replace("\n", "\r\n") if mode == "js-off" else message
    assert (sub / "message.txt").read_bytes() == expected.encode()
    assert (sub / "files" / big.name).read_bytes() == big.read_bytes()
    assert (sub / "files" / "notes.txt").read_bytes() == small.read_bytes()
    record = json.loads((sub / "items.json").read_text())
    assert record["sealed_by"] == ("server" if mode == "js-off" else "browser")

    folder = site.data_dir / "store" / "submissions" / submission_id(sub)
    envelopes = [p.read_bytes() for p in folder.glob("*")]
    assert len(envelopes) == 3
    if mode == "js-off":
        assert tab.progress == []
        # The data dir holds the store, the SQLite file (and any -wal/-journal) and the CSRF secret.
        assert scan(marker.encode(), site.data_dir, site.tmp_dir) == []
        return
    # The envelopes went in parts (docs/uploads.md), exactly the ones stored, then one commit
    # named them in order: the message first.
    url, _body, sent = browser_sent(tab)
    assert url == site.url + "/submit?sealed=browser"
    assert sent == [(folder / f"{i}.envelope").read_bytes() for i in range(3)]
    for _method, _url, _headers, b in tab.sent:
        assert marker.encode() not in (b or b"")
    assert "Encrypting and sending your message (1 of 3): 0%" in tab.progress
    name = re.escape(big.name)
    assert any(re.fullmatch(rf"Encrypting and sending {name} \(2 of 3\): \d+%", p) for p in tab.progress)
    assert any(p.startswith("Encrypting and sending notes.txt (3 of 3): ") for p in tab.progress)
    assert tab.progress[-2:] == ["Checking that everything arrived: 100%", "Sent: 100%"]


# -- origin, CSP, accessibility, phone ------------------------------------------------------------


def test_every_request_stays_on_the_origin(open_tab, site, tmp_path):
    tab = open_tab("wasm", site)
    note = tmp_path / "a.txt"
    note.write_text("origin check")
    send_tip(tab, "origin check", [note])
    tab.goto(ERROR_PAGE)
    tab.page.click("text=Back to the form")
    tab.page.wait_for_url(site.url + "/")
    paths = {u.removeprefix(site.url) for u in tab.urls}
    for p in (
        "/",
        "/static/style.css",
        "/static/js/submit.js",
        "/submit?sealed=browser",
        ERROR_PAGE,
    ):
        assert p in paths
    assert all(u.startswith(site.url + "/") for u in tab.urls), tab.urls


@pytest.mark.parametrize("mode", MODES)
def test_no_csp_violations_or_errors(open_tab, site, mode):
    tab = open_tab(mode, site)
    tab.goto("/")
    # libsodium's WebAssembly needs 'wasm-unsafe-eval'; its fallback must need nothing more.
    backend = tab.page.evaluate("async () => { await sodium.ready; return typeof WebAssembly; }")
    assert backend == ("object" if mode == "wasm" else "undefined")
    tab.page.click("#send")  # empty: the page's own check answers
    assert "write a message" in tab.page.inner_text("#status")
    for path in ("/thanks", ERROR_PAGE):
        tab.goto(path)
    assert tab.problems() == []


AXE_RUN = """async () => {
  const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa"]}});
  const show = (list) => list.map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", "));
  return {violations: show(r.violations), incomplete: show(r.incomplete), passes: r.passes.length};
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_accessibility_axe(open_tab, site, scheme):
    if not AXE.is_file():
        unavailable(f"{AXE} is missing (run `npm ci`)")
    axe = AXE.read_text("utf-8")
    # bypass_csp only here: the page's CSP rightly refuses the injected axe script.
    tab = open_tab("wasm", site, record_bodies=False, bypass_csp=True, color_scheme=scheme)

    def check(what: str) -> None:
        tab.page.add_script_tag(content=axe)
        result = tab.page.evaluate(AXE_RUN)
        assert result["violations"] == [], (what, result)
        assert result["passes"] > 5

    tab.goto("/")
    check("/")
    tab.page.click("#send")  # the status message, shown
    tab.page.evaluate("() => { document.getElementById('progress-box').hidden = false; }")
    check("/ with status and progress")
    for path in ("/thanks", ERROR_PAGE):
        tab.goto(path)
        check(path)


def test_phone_and_desktop_layout(open_tab, site):
    phone = open_tab("wasm", site, record_bodies=False, viewport={"width": 375, "height": 667})
    phone.goto("/")
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= 375
    for sel in ("#message", "#files", "#send"):
        box = phone.page.locator(sel).bounding_box()
        assert phone.page.is_visible(sel) and box["x"] >= 0 and box["x"] + box["width"] <= 375, (sel, box)
    phone.page.fill("#message", "typed on a phone")
    phone.page.screenshot(path="/tmp/tipline-phone.png", full_page=True)
    phone.page.click("#send")
    first_done(phone.page)
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= 375

    desktop = open_tab("wasm", site, record_bodies=False, viewport={"width": 1280, "height": 800})
    desktop.goto("/")
    desktop.page.screenshot(path="/tmp/tipline-page.png", full_page=True)
    assert phone.problems() == desktop.problems() == []


# -- the page's own limits and failures ----------------------------------------------------------


def test_client_side_limits_send_nothing(open_tab, small_site, tmp_path):
    tab = open_tab("wasm", small_site)
    tab.goto("/")
    files = []
    for i in range(3):
        files.append(tmp_path / f"{i}.txt")
        files[-1].write_text(f"file {i}")
    over = tmp_path / "over.bin"
    over.write_bytes(b"\0" * (1024 * 1024 + 1))
    halves = [tmp_path / "half1.bin", tmp_path / "half2.bin"]
    for h in halves:
        h.write_bytes(b"\1" * 600_000)
    page = tab.page
    cases = [
        ("", [], "Please write a message or attach a file before sending."),
        ("three files", files, "You attached 3 files; this tip line takes at most 2 in one tip."),
        ("one too big", [over], "Your files add up to 1.1 MB; this tip line takes at most 1 MB in one tip."),
        ("two too big", halves, "Your files add up to 1.2 MB; this tip line takes at most 1 MB in one tip."),
    ]
    for message, chosen, said in cases:
        page.fill("#message", message)
        page.set_input_files("#files", [str(f) for f in chosen])
        page.click("#send")
        assert page.inner_text("#status").startswith(said)
        assert page.is_enabled("#send") and page.is_hidden("#progress-box")
    page.wait_for_timeout(300)
    assert tab.posts == [] and not any(u.startswith(small_site.url + "/submit") for u in tab.urls)
    assert small_site.stored() == {}
    # Within the limits it goes through, and the old message is gone.
    page.set_input_files("#files", [str(f) for f in files[:2]])
    page.click("#send")
    first_done(page)
    assert small_site.submission_count() == 1
    assert tab.problems() == []


def test_server_refusal_is_shown(open_tab, site):
    tab = open_tab("wasm", site)
    tab.goto("/")
    tab.page.context.clear_cookies()  # the CSRF cookie: the server answers 403
    before = site.submission_count()
    tab.page.fill("#message", "no cookie")
    tab.page.click("#send")
    tab.page.wait_for_selector("#status:not(:empty)")
    assert tab.page.inner_text("#status").startswith("Your session for this page ran out")
    assert tab.page.is_enabled("#send") and tab.page.is_hidden("#progress-box")
    assert site.submission_count() == before
    assert [e for e in tab.problems() if "403" not in e] == []


# Time runs 1000 ms per performance.now() call: every chunk looks slow, so the page estimates.
SLOW_CLOCK = """(() => {
  let fake = 0;
  performance.now = () => (fake += 1000);
})();"""


def test_slow_sending_estimate_and_a_lost_commit_retried(open_tab, site, keydir, tmp_path):
    """The estimate comes from the rate so far; a commit whose connection drops is sent again
    after the countdown, and the tip is acknowledged only once the retry's answer says ok."""
    tab = open_tab("wasm", site)
    tab.page.add_init_script(SLOW_CLOCK)
    dropped = []

    def first_commit_lost(route):
        if dropped:
            route.continue_()
        else:
            dropped.append(route.request.url)
            route.abort()

    tab.page.route(re.compile(r"/submit\?sealed=browser$"), first_commit_lost)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # three parts: the rate is known after the first
    before = site.submission_count()
    tab.goto("/")
    tab.page.set_input_files("#files", str(big))
    tab.page.click("#send")
    first_done(tab.page)
    assert dropped == [site.url + "/submit?sealed=browser"]
    assert any(
        re.fullmatch(r"Encrypting and sending big\.bin \(1 of 1\): \d+% · About \d+ min left", p)
        for p in tab.progress
    ), tab.progress
    i = tab.progress.index("Connection lost. Retrying in 1 s.")
    assert tab.progress[i - 1] == "Checking that everything arrived: 100%"
    assert tab.progress[i + 1 :] == ["Checking that everything arrived: 100%", "Sent: 100%"]
    assert site.submission_count() == before + 1
    assert [e for e in tab.problems() if "ERR_FAILED" not in e] == []
