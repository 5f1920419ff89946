"""Conversation status in Chromium: set it and the star on the conversation page, see it on the list,
filter the list; with JavaScript on and off, and axe-core clean on both pages, light and dark.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.axe import check_axe, refuse_scripts
from tests.browser.test_browser_replies import logged_in
from tests.web.newsroom import start_newsroom


@pytest.fixture(scope="module")
def room(tmp_path_factory, keydir):
    nr = start_newsroom(tmp_path_factory.mktemp("status-browser"), keydir)
    yield nr
    nr.stop()


def listed(tab) -> dict[str, tuple[str | None, str | None]]:
    """The list's conversations as the browser shows them: id -> (status, starred), in page order."""
    out = {}
    for section in tab.page.locator("section.conversation").all():
        cid = section.get_attribute("data-conversation-id")
        out[cid] = (section.get_attribute("data-status"), section.get_attribute("data-starred"))
    return out


@pytest.mark.parametrize("mode", ["wasm", "js-off"])
def test_set_the_status_and_star_then_filter_the_list(room, open_tab, mode):
    cid, _ = room.open_conversation(f"status in {mode}")
    other, _ = room.open_conversation(f"left alone in {mode}")
    tab = logged_in(room, open_tab, mode)
    assert listed(tab)[cid] == ("new", "0")
    assert "Nobody has opened it yet." in tab.page.inner_text(f"#conversation-{cid}")

    tab.goto(f"/conversations/{cid}")
    assert "Status: Read." in tab.page.inner_text("#status-now")  # opening it read it
    tab.page.select_option("#status-select", "in_progress")
    tab.page.click("#save-status")
    tab.page.wait_for_url(re.compile(r".*/conversations/[^/?]+\?saved=1$"))
    assert "Saved." in tab.page.inner_text("#status-saved")
    assert "Status: In progress." in tab.page.inner_text("#status-now")
    assert tab.page.input_value("#status-select") == "in_progress"
    tab.page.click("#star-toggle")
    tab.page.wait_for_url(re.compile(r".*\?saved=1$"))
    assert f"Starred by {tab.name}." in tab.page.inner_text("#status-now")
    assert tab.page.inner_text("#star-toggle") == "Remove the star"

    tab.goto("/")
    assert listed(tab)[cid] == ("in_progress", "1") and listed(tab)[other] == ("new", "0")
    text = tab.page.inner_text(f"#conversation-{cid}")
    assert "Status: In progress." in text and "Starred." in text and f"Seen by {tab.name} (" in text
    tab.page.select_option("#filter-status", "in_progress")
    tab.page.check("#filter-starred")
    tab.page.click("#filter-apply")
    tab.page.wait_for_url(re.compile(r".*/\?status=in_progress&starred=1$"))
    shown = listed(tab)
    assert cid in shown and other not in shown and set(shown.values()) == {("in_progress", "1")}
    assert f"{len(shown)} of " in tab.page.inner_text("#filter-result")
    tab.page.click("#filter-clear")
    tab.page.wait_for_url(room.journalist.url + "/")
    assert {cid, other} <= set(listed(tab))
    assert tab.problems() == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("scripts", [True, False])
def test_the_status_parts_pass_axe(room, open_tab, scheme, scripts):
    cid, _ = room.open_conversation(f"axe {scheme} {scripts}")
    tab = logged_in(room, open_tab, "wasm", color_scheme=scheme)
    if not scripts:  # the markup as a browser with JavaScript off gets it
        refuse_scripts(tab)
    what = f"({scheme}, {'with' if scripts else 'without'} scripts)"
    tab.goto("/")
    check_axe(tab, f"list with statuses {what}")
    tab.goto(f"/conversations/{cid}")
    if scripts:
        tab.page.wait_for_selector("#reply-form[data-crypto=ready]")
    check_axe(tab, f"conversation page {what}")
    tab.page.select_option("#status-select", "done")
    tab.page.click("#save-status")
    tab.page.wait_for_url(re.compile(r".*\?saved=1$"))
    tab.page.click("#star-toggle")
    tab.page.wait_for_url(re.compile(r".*\?saved=1$"))
    check_axe(tab, f"conversation page, saved and starred {what}")
    tab.goto("/?status=done&starred=1")
    assert cid in listed(tab)
    check_axe(tab, f"filtered list {what}")
    tab.goto("/?status=bogus")
    check_axe(tab, f"a refused filter {what}")
