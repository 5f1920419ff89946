"""The source's language in real Chromium: kept by every link and form, mirrored in Arabic, never broken.

A source starts at /es/ (or /en/, /ar/), sends a first tip, gets the codename,
follows "Read replies / continue", logs in with it, reads a journalist's
reply, sends a follow-up, goes back to the conversation, leaves, and returns
to the form; then meets an error page. On every page: `<html lang dir>` is
the language's, the address is under /<lang>/, every link and form of the
page stays there, the language menu offers this page in each language, no
box is wider than a phone's or a desktop's window or drawn over the menu,
and (where the page's engine runs) axe-core finds no WCAG 2 A/AA problem.

Modes: "wasm" is JavaScript on; "js-off" is Chromium with JavaScript
disabled; "no-scripts" refuses the page's own scripts, so the server's pages
are the ones a browser without JavaScript gets, and axe can still run in them
(in the dark colour scheme, the others in the light one).

The tests find elements by id and assert attributes and positions, never the
words: the Spanish and Arabic catalogs are being written, and these tests
must pass before and after they are.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser.axe import check_axe, need_axe, refuse_scripts
from tests.browser.conftest import ERROR_PAGE, Tab, first_done
from tests.browser.layout import DESKTOP, PHONE, addresses, boxes, faults
from tests.web.conversations import add_reply

DIRS = {"en": "ltr", "es": "ltr", "ar": "rtl"}
FLOWS = [
    ("es", "wasm"),
    ("es", "js-off"),
    ("es", "no-scripts"),
    ("ar", "wasm"),
    ("ar", "js-off"),
    ("ar", "no-scripts"),
    ("en", "wasm"),
    ("en", "no-scripts"),
]
NEAR = 1.5  # CSS pixels: sub-pixel rounding of text boxes


def source_tab(open_tab, site, mode: str, **options) -> Tab:
    tab = open_tab("wasm" if mode == "no-scripts" else mode, site, record_bodies=False, **options)
    if mode == "no-scripts":
        refuse_scripts(tab)
    tab.page.set_default_timeout(30_000)
    return tab


def check_page(tab: Tab, lang: str, what: str, axe: bool) -> None:
    """The language holds on this page, its layout is whole at both widths, and axe is clean."""
    a = addresses(tab)
    assert (a["lang"], a["dir"]) == (lang, DIRS[lang]), (what, a)
    assert a["path"].startswith(f"/{lang}/"), (what, a["path"])
    assert a["targets"], (what, a)
    assert all(t.startswith(f"/{lang}/") for t in a["targets"]), (what, a["targets"])
    if a["menu"] is None:  # only a page that shows the codename has none (codename.html, or #done)
        assert what in ("codename page", "codename shown"), (what, a)
    else:
        menu, rest = a["menu"], a["path"][len(lang) + 1 :]
        assert {m["hreflang"] for m in menu} >= set(DIRS), (what, menu)
        assert [m["hreflang"] for m in menu if m["current"] == "page"] == [lang], (what, menu)
        for m in menu:  # this page in that language, or its form where this page answered a POST
            assert m["lang"] == m["hreflang"], (what, m)
            assert m["path"] in (f"/{m['hreflang']}{rest}", f"/{m['hreflang']}/"), (what, m)
    assert faults(tab) == {PHONE: [], DESKTOP: []}, (what, lang)
    if axe:
        check_axe(tab, f"{what} in {lang}")


def codename_stays_ltr(tab: Tab, selector: str) -> None:
    """The codename's words are English: read left to right, from the left, inside any page."""
    b = boxes(tab, selector)[selector]
    assert b["direction"] == "ltr", b
    if b["text"]["width"]:  # the shown codename; the empty entry box has no text to place
        content_left = b["box"]["left"] + b["borderLeftPx"] + b["paddingLeft"]
        assert abs(b["text"]["left"] - content_left) < NEAR, b


@pytest.mark.parametrize(("lang", "mode"), FLOWS, ids=[f"{lang}-{mode}" for lang, mode in FLOWS])
def test_the_language_holds_through_the_whole_flow(open_tab, site, keydir, lang, mode):
    axe = mode != "js-off"  # axe needs the page's JavaScript engine (tests/browser/axe.py)
    if axe:
        need_axe()
    # The page's own colours both ways, for axe's contrast checks: dark where the scripts are refused.
    tab = source_tab(open_tab, site, mode, color_scheme="dark" if mode == "no-scripts" else "light")
    page = tab.page

    def here(what: str, ending: str | None = None) -> None:
        # Wait for the page by the end of its path only: check_page then says if the prefix went.
        if ending is not None:
            page.wait_for_url(lambda url: urlsplit(url).path.endswith("/" + ending))
        check_page(tab, lang, what, axe)

    tab.goto(f"/{lang}/")
    here("form")
    page.fill("#message", f"A first tip, {lang} {mode}")
    page.click("#send")
    code = first_done(page, heading=None)
    # With JavaScript the form's page shows it; without, the page that answered the POST.
    here("codename shown" if mode == "wasm" else "codename page", "" if mode == "wasm" else "submit")
    if lang == "ar":
        codename_stays_ltr(tab, "#codename")

    page.click("#codename ~ p a")  # "Read replies / continue"
    here("conversation login", "conversation")
    if lang == "ar":
        codename_stays_ltr(tab, "#codename-entry")
    reply = f"A journalist's reply, {lang} {mode}"
    add_reply(site, keydir, code, reply)
    page.fill("#codename-entry", code)
    page.click("#open")
    page.locator("#replies .reply .reply-text").first.wait_for()
    assert page.locator("#replies .reply .reply-text").all_inner_texts() == [reply]
    here("conversation with replies", "conversation")

    page.fill("#message", f"A follow-up, {lang} {mode}")
    page.click("#send")
    here("thanks", "thanks")
    page.click("main a")  # back to the conversation
    here("conversation again", "conversation")
    page.click("#leave")
    here("left", "conversation/leave")
    page.click("main a")  # back to the form
    here("form again", "")
    tab.goto(f"/{lang}{ERROR_PAGE}")
    here("error page")
    assert tab.problems() == [] or mode == "no-scripts", tab.problems()  # refused scripts are logged


def start(b: dict, rtl: bool) -> float:
    """Where a box begins in reading order: its right edge in a right-to-left page."""
    return b["right"] if rtl else b["left"]


FORM = (
    "h1",
    "label[for=message]",
    "#message",
    "label[for=files]",
    "#files-help",
    "#crypto-note",
    "#send",
    "p.continue",
    "nav#languages li:first-child a",
    "nav#languages li:last-child a",
)


def test_arabic_mirrors_the_form_and_keeps_the_codename_left_to_right(open_tab, site):
    tab = source_tab(open_tab, site, "wasm", viewport={"width": 1000, "height": 800})
    seen = {}
    for lang in ("en", "ar"):
        rtl = DIRS[lang] == "rtl"
        tab.goto(f"/{lang}/")
        b = seen[lang] = boxes(tab, *FORM)
        main = b["main"]
        edge = main["right"] if rtl else main["left"]
        # Headings, labels and help text start at main's inline-start edge: the right in Arabic.
        for sel in ("h1", "label[for=message]", "label[for=files]", "#files-help", "p.continue"):
            assert abs(start(b[sel]["text"], rtl) - edge) < NEAR, (lang, sel, b[sel], main)
        # The message box spans the column, and what is typed in it starts at the inline start.
        message = b["#message"]["box"]
        assert abs(message["left"] - main["left"]) < NEAR and abs(message["right"] - main["right"]) < NEAR
        assert b["#message"]["direction"] == DIRS[lang]
        assert b["#message"]["textAlign"] in ("start", "right" if rtl else "left"), b["#message"]
        # The Send button sits at the inline start; the note's bar is on that side too.
        assert abs(start(b["#send"]["box"], rtl) - edge) < NEAR, (lang, b["#send"], main)
        note = b["#crypto-note"]
        assert (note["borderRightPx"], note["borderLeftPx"]) == ((4, 0) if rtl else (0, 4)), note
        side = "Right" if rtl else "Left"
        bar_and_padding = note[f"border{side}Px"] + note[f"padding{side}"]
        assert abs(abs(start(note["text"], rtl) - edge) - bar_and_padding) < NEAR, note
        # The language menu starts at the same edge, its links running toward the inline end.
        first, last = b["nav#languages li:first-child a"]["box"], b["nav#languages li:last-child a"]["box"]
        assert abs(start(first, rtl) - edge) < NEAR, (lang, first, main)
        assert (last["right"] <= first["left"]) if rtl else (last["left"] >= first["right"]), (first, last)
        # The second button (shown when this browser cannot seal) follows Send toward the inline
        # end, with its .5rem margin on the side that faces Send.
        tab.page.evaluate("() => { document.getElementById('send-now').hidden = false; }")
        pair = boxes(tab, "#send", "#send-now")
        send, now = pair["#send"]["box"], pair["#send-now"]["box"]
        if abs(send["top"] - now["top"]) < NEAR:  # on one line: the margin and a space between them
            gap = (send["left"] - now["right"]) if rtl else (now["left"] - send["right"])
            assert gap >= 8 - NEAR, (lang, send, now)
        else:  # wrapped: the margin alone, from the edge
            assert abs(abs(start(now, rtl) - edge) - 8) < NEAR, (lang, now, main)
    # Same window, same column: each Arabic box starts where its English one's mirror image does.
    en, ar = seen["en"], seen["ar"]
    assert en["main"] == ar["main"]
    mirror = en["main"]["left"] + en["main"]["right"]
    for sel in ("h1", "label[for=message]", "#files-help", "p.continue"):
        assert abs((mirror - en[sel]["text"]["left"]) - ar[sel]["text"]["right"]) < NEAR, sel
    for sel in ("#send", "nav#languages li:first-child a"):
        assert abs((mirror - en[sel]["box"]["left"]) - ar[sel]["box"]["right"]) < NEAR, sel

    # The codename box of the conversation page is typed left to right inside the Arabic page,
    # under a label that starts at the right.
    tab.goto("/ar/conversation")
    codename_stays_ltr(tab, "#codename-entry")
    b = boxes(tab, "label[for=codename-entry]")
    assert abs(b["label[for=codename-entry]"]["text"]["right"] - b["main"]["right"]) < NEAR, b
    assert tab.problems() == []
