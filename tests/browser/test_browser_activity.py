"""The activity page in Chromium: reached from the list, filtered with its GET form, JavaScript on and off.

axe-core checks it with the page's scripts running and with them refused
(the markup a browser without JavaScript gets); the colour schemes both.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.axe import check_axe, need_axe, refuse_scripts
from tests.web.logins import PASSPHRASE
from tests.web.newsroom import start_newsroom
from tipline.store.activity import UNKNOWN_NAME


@pytest.fixture(scope="module")
def room(tmp_path_factory, keydir):
    r = start_newsroom(tmp_path_factory.mktemp("activity"), keydir)
    r.open_conversation("a tip, so the list has something")
    yield r
    r.stop()


def log_in(tab, room, name: str) -> None:
    """The login form, as a journalist fills it (each name logs in once: a code is good once)."""
    room.enrol(name)
    tab.goto("/login")
    tab.page.fill("#name", name)
    tab.page.fill("#passphrase", PASSPHRASE)
    tab.page.fill("#code", room.totp[name].now())
    tab.page.click("button[type=submit]")
    tab.page.wait_for_url(re.compile(r"/$"))


def rows(tab) -> list[tuple[str, str]]:
    cells = tab.page.eval_on_selector_all(
        "#activity tbody tr", "trs => trs.map(tr => [tr.dataset.action, tr.cells[1].innerText])"
    )
    return [tuple(c) for c in cells]


@pytest.mark.parametrize("mode", ["wasm", "js-off"])
def test_activity_page_filters_with_and_without_javascript(room, open_tab, mode):
    name = "ana" if mode == "wasm" else "ben"
    tab = open_tab(mode, room.journalist, record_bodies=False)
    tab.goto("/login")
    tab.page.fill("#name", "anna-typo")  # a failed login first, under a name with no account
    tab.page.fill("#passphrase", "wrong")
    tab.page.fill("#code", "000000")
    tab.page.click("button[type=submit]")
    tab.page.wait_for_selector("p.notice")
    log_in(tab, room, name)
    tab.page.click("#activity-link")
    tab.page.wait_for_url(re.compile(r"/activity$"))
    assert ("login", name) in rows(tab) and ("login_failed", UNKNOWN_NAME) in rows(tab)
    assert tab.page.inner_text("h1") == "Activity log"

    tab.page.select_option("#filter-journalist", name)
    tab.page.select_option("#filter-action", "login")
    tab.page.click("#activity-filter button[type=submit]")
    tab.page.wait_for_url(re.compile(r"/activity\?journalist=" + name + "&action=login$"))
    assert rows(tab) == [("login", name)]
    assert tab.page.input_value("#filter-journalist") == name  # the form keeps what was chosen
    assert tab.page.input_value("#filter-action") == "login"
    tab.page.select_option("#filter-action", "download")
    tab.page.click("#activity-filter button[type=submit]")
    assert tab.page.is_visible("#activity-empty") and rows(tab) == []
    # The refused login's 401 is the one console error, and it is by design.
    assert [p for p in tab.problems() if "status of 401" not in p] == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("scripts", [True, False])
def test_activity_page_passes_axe(room, open_tab, scheme, scripts):
    need_axe()
    tab = open_tab("wasm", room.journalist, record_bodies=False, color_scheme=scheme)
    if not scripts:
        refuse_scripts(tab)
    log_in(tab, room, f"axe-{scheme}-{'on' if scripts else 'off'}")
    tab.goto("/activity")
    assert rows(tab)
    check_axe(tab, f"/activity ({scheme}, scripts {'on' if scripts else 'off'})")
    tab.goto("/activity?journalist=nobody")
    check_axe(tab, f"/activity, empty ({scheme})")
    assert tab.problems() == []
