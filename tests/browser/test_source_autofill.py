"""A browser that fills in every field it finds never costs the source the tip.

The page once had a honeypot: a text field hidden from people, and a tip that
filled it was dropped while the page said "received". Autofill and password
managers fill fields people cannot see, so a person could lose a tip without
knowing it. These tests fill every field of the page, seen or not, as an
eager autofill does, with JavaScript on and off, and the tip must arrive.
"""

from __future__ import annotations

import json
import secrets

import pytest

from tests.browser.conftest import THANKS, export_and_decrypt, first_done, submission_with

# Every field a browser could fill: text-like inputs and text areas, visible or not.
AUTOFILL = """(message) => {
  const filled = [];
  for (const el of document.querySelectorAll("input, textarea")) {
    if (["hidden", "file", "submit", "button", "checkbox", "radio"].includes(el.type)) continue;
    el.value = el.tagName === "TEXTAREA" ? message : "https://example.org/";
    filled.push(el.id || el.name);
  }
  return filled;
}"""

# Fields a person could not see or reach: off screen, tiny, hidden from assistive tech or the tab order.
UNSEEN = """() => [...document.querySelectorAll("input, textarea")]
  .filter((el) => el.type !== "hidden")
  .filter((el) => {
    const r = el.getBoundingClientRect();
    return r.right <= 0 || r.bottom <= 0 || r.width < 10 || r.height < 10 ||
      el.closest("[aria-hidden=true]") || el.tabIndex < 0;
  })
  .map((el) => el.id || el.name)"""


@pytest.mark.parametrize("mode", ["wasm", "js-off"])
def test_autofilled_fields_never_lose_a_tip(open_tab, site, keydir, tmp_path, mode):
    tab = open_tab(mode, site)
    tab.goto("/")
    unseen = tab.page.evaluate(UNSEEN)
    marker = f"AUTOFILL-{mode}-{secrets.token_hex(8)}"
    before = site.submission_count()
    filled = tab.page.evaluate(AUTOFILL, f"autofilled {marker}")
    assert "message" in filled
    tab.page.click("#send")
    first_done(tab.page)
    assert tab.page.inner_text("h1") == THANKS
    assert site.submission_count() == before + 1
    sub = submission_with(export_and_decrypt(site, keydir, tmp_path), marker)
    assert (sub / "message.txt").read_text() == f"autofilled {marker}"
    sealed_by = json.loads((sub / "items.json").read_text())["sealed_by"]
    assert sealed_by == ("server" if mode == "js-off" else "browser")
    assert unseen == []  # and no field on the page that only a machine would fill
