"""The guide for sources in real Chromium: axe-core clean in both directions, and whole without JavaScript."""

from __future__ import annotations

import pytest

from tests.browser.axe import check_axe
from tests.browser.conftest import AXE, unavailable

PHONE = {"width": 360, "height": 640}
SECTIONS = ["tor-browser", "device", "files", "what-we-see", "codename"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("prefix", ["", "/ar"])
def test_guide_passes_axe(open_tab, site, prefix, scheme):
    if not AXE.is_file():
        unavailable(f"{AXE} is missing (run `npm ci`)")
    # bypass_csp only so that axe can be injected: the guide itself has no script.
    tab = open_tab("wasm", site, bypass_csp=True, color_scheme=scheme)
    assert tab.goto(f"{prefix}/guide").status == 200
    check_axe(tab, f"{prefix}/guide {scheme}")


@pytest.mark.parametrize(("prefix", "direction"), [("", "ltr"), ("/es", "ltr"), ("/ar", "rtl")])
def test_guide_renders_and_its_contents_work_without_javascript(open_tab, site, prefix, direction):
    tab = open_tab("js-off", site, viewport=PHONE)
    assert tab.goto(f"{prefix}/guide").status == 200
    page = tab.page
    assert page.locator("html").get_attribute("dir") == direction
    assert page.locator("h1").is_visible()
    # Only the page and its stylesheet, and the stylesheet applied (main is the narrow column).
    assert sorted(u.removeprefix(site.url) for u in tab.urls) == [f"{prefix}/guide", "/static/style.css"]
    main = page.locator("main").bounding_box()
    assert main is not None and main["width"] <= 40 * 16 + 1
    for section in SECTIONS:
        assert page.locator(f"#{section} h2").is_visible()

    # The list of contents is indented from the side the text starts: the right in Arabic.
    item = page.locator("#contents li a").first.bounding_box()
    heading = page.locator("#contents h2").bounding_box()
    if direction == "rtl":
        indent = (heading["x"] + heading["width"]) - (item["x"] + item["width"])
    else:
        indent = item["x"] - heading["x"]
    assert 8 < indent < 64, (direction, item, heading)

    # Each entry of the contents takes the reader to its section, with no script: on a phone's
    # screen the section is below the fold until the entry is followed.
    height = PHONE["height"]
    for section in SECTIONS:
        page.locator("#contents").scroll_into_view_if_needed()
        assert page.locator(f"#{section}").bounding_box()["y"] > height / 2
        page.click(f'#contents a[href="#{section}"]')
        assert page.url.endswith(f"{prefix}/guide#{section}")
        top = page.locator(f"#{section}").bounding_box()["y"]  # relative to the viewport
        assert -1 < top < height / 2, (section, top)
    assert tab.problems() == []

    # And the way back: the form, in the same language.
    page.click("#guide-back")
    assert page.url == f"{site.url}{prefix}/"
