"""The newsroom's own page in real Chromium: the logo under the real CSP, mirrored in Arabic, axe-clean.

A real `tipline serve` with every [newsroom] setting (tests/web/newsroom_page.py): the
logo must load from the tip line's own origin with the page's CSP in force, sit at the
start of the line in each direction, keep the fingerprints left to right in Arabic, and
pass axe-core in every language and colour scheme.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.conftest import AXE, unavailable
from tests.browser.test_source_page import AXE_RUN
from tests.web.newsroom_page import start_newsroom_site
from tests.web.server import Server

BOXES = """() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return {left: r.left, right: r.right}; };
  const main = document.querySelector("main"), style = getComputedStyle(main);
  const inner = {left: main.getBoundingClientRect().left + parseFloat(style.paddingLeft),
                 right: main.getBoundingClientRect().right - parseFloat(style.paddingRight)};
  const img = document.getElementById("newsroom-logo");
  const code = document.querySelector("#key-fingerprints code");
  const intro = document.querySelector("#newsroom-intro p");
  return {main: inner, logo: box(img), loaded: img.complete && img.naturalWidth,
          code: getComputedStyle(code).direction, page: getComputedStyle(document.body).direction,
          intro: getComputedStyle(intro).direction,
          width: document.documentElement.scrollWidth};
}"""


@pytest.fixture(scope="module")
def newsroom_site(tmp_path_factory, keydir) -> Iterator[Server]:
    srv = start_newsroom_site(tmp_path_factory.mktemp("newsroom-browser"), keydir / "journalist.pub")
    yield srv
    srv.stop()


@pytest.mark.parametrize("mode", ["wasm", "js-off"])
def test_the_logo_loads_same_origin_under_the_csp_at_the_start_of_the_line(open_tab, newsroom_site, mode):
    tab = open_tab(mode, newsroom_site, record_bodies=False, viewport={"width": 375, "height": 800})
    for path, direction in (("/", "ltr"), ("/ar/", "rtl"), ("/es/", "ltr")):
        tab.goto(path)
        tab.page.wait_for_function("document.getElementById('newsroom-logo').complete")
        b = tab.page.evaluate(BOXES)  # Playwright's own evaluation: it runs with the page's scripts off too
        assert b["loaded"] == (80 if path == "/es/" else 120), path  # decoded: the Spanish logo is its own
        assert b["page"] == direction and b["code"] == "ltr", b  # fingerprints are not words
        assert b["intro"] == "ltr", b  # English (Arabic falls back to it), Spanish: by their own letters
        start, end = ("left", "right") if direction == "ltr" else ("right", "left")
        assert abs(b["logo"][start] - b["main"][start]) < 1, (path, b)  # the logo at the line's start
        assert abs(b["logo"][end] - b["main"][end]) > 100, (path, b)
        assert b["width"] <= 375, b  # nothing wider than a phone
    assert tab.problems() == []  # no CSP violation, no failed load
    assert all(u.startswith(newsroom_site.url + "/") for u in tab.urls), tab.urls


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", ["/", "/es/", "/ar/"])
def test_the_newsroom_page_passes_axe(open_tab, newsroom_site, scheme, path):
    if not AXE.is_file():
        unavailable(f"{AXE} is missing (run `npm ci`)")
    # bypass_csp only so that axe can be injected; the page itself carries no inline code.
    tab = open_tab("wasm", newsroom_site, record_bodies=False, bypass_csp=True, color_scheme=scheme)
    tab.goto(path)
    tab.page.add_script_tag(content=AXE.read_text("utf-8"))
    result = tab.page.evaluate(AXE_RUN)
    assert result["violations"] == [], (path, result)
    assert result["passes"] > 5
