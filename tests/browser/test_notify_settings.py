"""The journalist's notification settings page in Chromium, with its scripts and without: axe-core clean.

The page is a plain form (no script of its own): set an address, see a refusal, clear it.
"""

from __future__ import annotations

import pytest

from tests.browser.axe import check_axe, refuse_scripts
from tests.browser.test_browser_replies import logged_in
from tests.web.newsroom import start_newsroom


@pytest.fixture(scope="module")
def room(tmp_path_factory, keydir):
    nr = start_newsroom(tmp_path_factory.mktemp("notify"), keydir)
    yield nr
    nr.stop()


@pytest.mark.parametrize("scripts", ["on", "off"])
def test_the_settings_page_sets_refuses_and_clears(room, open_tab, scripts):
    tab = logged_in(room, open_tab, "wasm")
    if scripts == "off":
        refuse_scripts(tab)
    tab.page.click("#notify-settings")
    tab.page.wait_for_url(room.journalist.url + "/settings/notifications")
    assert "not set up on this installation" in tab.page.inner_text("main")
    check_axe(tab, "notification settings")
    tab.page.fill("#email", "me@example")  # a valid address to the browser, not to the server
    tab.page.click("button[value=save]")
    assert tab.page.inner_text("#notify-error").startswith("That is not an email address")
    check_axe(tab, "notification settings, refused")
    tab.page.fill("#email", "me@example.org")
    tab.page.click("button[value=save]")
    tab.page.wait_for_selector("text=Notifications also go to")
    assert tab.page.inner_text("#notify-current") == "Notifications also go to me@example.org."
    check_axe(tab, "notification settings, set")
    tab.page.click("button[value=clear]")
    tab.page.wait_for_selector("text=You have no notification address of your own.")
    check_axe(tab, "notification settings, cleared")
    # The refusal is a 400, which Chromium reports on the console; nothing else went wrong.
    assert [e for e in tab.errors if "status of 400 (BAD REQUEST)" not in e] == []
