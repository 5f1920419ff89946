"""axe-core on the source's error pages, each one brought about for real in Chromium.

403: the CSRF cookie is gone when the form is sent. 413: more files than the
tip line takes. 503: the data folder is on a small tmpfs that is full. The
form is posted the way it is without JavaScript, so the browser shows the
server's own page (with JavaScript the page shows the same text in its status
line instead). axe needs JavaScript, so rather than turning it off these tabs
refuse the page's scripts: the form then posts as it does without them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.browser.axe import check_axe, need_axe, refuse_scripts
from tests.browser.conftest import Tab
from tests.web.server import Server, fill_disk, make_server


@pytest.fixture
def full_site(tmp_path, keydir, small_disk) -> Iterator[Server]:
    """A tip line whose data folder is a 6 MB tmpfs, filled to the last byte."""
    srv = make_server(tmp_path, keydir / "journalist.pub").start()
    try:
        # start() returns once gunicorn listens, which may be before its worker has
        # booted. One answered request means it is up; then fill the disk.
        assert srv.request("GET", "/", cookies=False).status == 200
        fill_disk(small_disk / "filler")
        yield srv
    finally:
        srv.stop()


def post_without_scripts(open_tab, srv: Server, scheme: str, prepare) -> tuple[Tab, int]:
    need_axe()
    tab = open_tab("wasm", srv, record_bodies=False, color_scheme=scheme)
    refuse_scripts(tab)
    tab.goto("/")
    tab.page.fill("#message", "a tip that will not be kept")
    prepare(tab)
    with tab.page.expect_response(re.compile(r"/submit$")) as response:
        tab.page.click("#send")
    tab.page.wait_for_load_state()
    return tab, response.value.status


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_403_page_passes_axe(open_tab, site, scheme):
    before = site.submission_count()
    tab, status = post_without_scripts(open_tab, site, scheme, lambda t: t.page.context.clear_cookies())
    assert status == 403 and tab.page.inner_text("h1") == "Please reload the page"
    check_axe(tab, "403")
    assert site.submission_count() == before


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_413_page_passes_axe(open_tab, small_site, tmp_path, scheme):
    files = []
    for i in range(3):  # small_site takes at most 2
        files.append(tmp_path / f"{i}.txt")
        files[-1].write_text(f"file {i}")
    before = small_site.submission_count()
    tab, status = post_without_scripts(
        open_tab, small_site, scheme, lambda t: t.page.set_input_files("#files", [str(f) for f in files])
    )
    assert status == 413 and tab.page.inner_text("h1") == "Too large"
    check_axe(tab, "413")
    assert small_site.submission_count() == before


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_503_page_passes_axe(open_tab, full_site, scheme):
    tab, status = post_without_scripts(open_tab, full_site, scheme, lambda t: None)
    assert status == 503 and tab.page.inner_text("h1") == "Temporarily unavailable"
    check_axe(tab, "503")
    assert full_site.submission_count() == 0
    # Nothing waits: pending/ holds only the uploads' folder (docs/uploads.md), with at most its lock.
    pending = full_site.data_dir / "store" / "pending"
    assert [
        p for p in pending.rglob("*") if p.relative_to(pending).as_posix() not in ("uploads", "uploads/.lock")
    ] == []
