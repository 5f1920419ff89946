"""Large tips sent in parts while they are sealed (docs/uploads.md), in a real Chromium.

Files are made from a seeded generator and compared by hash, so no test holds one twice.
Each tip is exported with the real `tipline export` and decrypted with the real
`tipline-offline`. A TCP proxy on loopback (tests/browser/proxy.py) stands between the
browser and gunicorn where the connection must drop or stall. The largest files are in
test_source_uploads_large.py, a file of their own so that the suite's two workers share them.
"""

from __future__ import annotations

import math
import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.browser.conftest import THANKS, first_done
from tests.browser.uploads import (
    LONG,
    MIB,
    RETRYING,
    decrypted_file,
    envelope_length,
    held_by,
    make_file,
    records,
    send_file,
    sha256_of,
)
from tests.web.server import Server

# -- a dropped connection, a reload ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["wasm", "jitless"])
def test_a_cut_connection_is_retried_and_resumes(open_tab, fresh_site, proxy, keydir, tmp_path, mode):
    size = 6 * MIB + 12345  # two parts: the cut falls in the second
    path = tmp_path / "ledger.bin"
    digest = make_file(path, size, seed=7)
    tab = open_tab(mode, SimpleNamespace(url=proxy.url), record_bodies=False)
    tab.goto("/")
    tab.page.set_input_files("#files", str(path))
    proxy.cut_after(5 * MIB)
    tab.page.click("#send")
    assert proxy.cut.wait(300)
    # The page says so, and counts down; the proxy comes back only once it has.
    shown = "() => document.getElementById('progress-label').textContent.startsWith('Connection lost.')"
    tab.page.wait_for_function(shown, timeout=LONG)
    proxy.up()
    first_done(tab.page, timeout=LONG)
    assert any(RETRYING.fullmatch(p) for p in tab.progress), tab.progress
    # The page asked how much had arrived before sending again.
    assert "HEAD" in [method for method, _url, _headers, _body in tab.sent]
    got = decrypted_file(fresh_site, keydir, tmp_path / "out", path.name)
    assert sha256_of(got) == digest
    # What went up: the envelope once, and at most the part the cut broke, again.
    assert proxy.sent_up < envelope_length(size, path.name) + 4 * MIB + 64 * 1024
    assert [e for e in tab.problems() if "ERR_" not in e] == []


def test_after_a_reload_the_same_file_resumes(open_tab, fresh_site, proxy, keydir, tmp_path):
    size = 20 * MIB + 999
    path = tmp_path / "minutes.bin"
    digest = make_file(path, size, seed=20)
    envelope = envelope_length(size, path.name)
    tab = open_tab("wasm", SimpleNamespace(url=proxy.url), record_bodies=False)
    tab.goto("/")
    tab.page.set_input_files("#files", str(path))
    proxy.hold_after(9 * MIB + 100_000)  # the third part stalls, as over a dying circuit
    tab.page.click("#send")
    assert proxy.held.wait(300)
    ((name, record),) = records(tab).items()
    upload_id = re.search(r'"id":"([^"]+)"', record)[1]

    tab.page.reload()
    proxy.release()  # the stalled part is cut off: the server keeps none of it
    assert records(tab) == {name: record}  # the tab kept it across the reload
    arrived = held_by(fresh_site, upload_id)
    assert arrived > 0
    assert tab.page.locator("#files").input_value() == ""  # the page forgot the file: picked again
    send_file(tab, path)
    said = f"Resuming: {math.floor(arrived / MIB * 10) / 10:g} MB had already arrived"
    assert said in tab.progress, tab.progress
    assert records(tab) == {}
    assert proxy.sent_up < 2 * envelope
    got = decrypted_file(fresh_site, keydir, tmp_path / "out", path.name)
    assert sha256_of(got) == digest
    assert tab.page.inner_text("h1") == THANKS


# -- the tab's memory --------------------------------------------------------------------------------


def rss(pid: int) -> int:
    """A process's resident memory in bytes, from /proc (0 once it has gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)[1]) * 1024


def upload_memory(browser, srv: Server, path: Path) -> dict[str, int]:
    """Send `path` from a fresh tab, sampling its renderer's resident memory (the renderer's pid
    from the Chrome DevTools protocol's process list, its RSS from /proc, by a thread) and the
    page's JS heap (Performance.getMetrics) until the tip has arrived. Returns the baseline and
    the peak of each, and the renderer's memory after a full garbage collection at the end."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(LONG)
    browser_cdp = browser.new_browser_cdp_session()
    page.goto(srv.url + "/")
    page.evaluate("async () => { await sodium.ready; }")

    # Every renderer of this browser (its own, for this test): the tab's, and any idle spare.
    procs = browser_cdp.send("SystemInfo.getProcessInfo")["processInfo"]
    pids = [p["id"] for p in procs if p["type"] == "renderer"]

    def resident() -> int:
        return sum(rss(pid) for pid in pids)

    tab_cdp = context.new_cdp_session(page)
    tab_cdp.send("Performance.enable")

    def heap() -> int:
        metrics = tab_cdp.send("Performance.getMetrics")["metrics"]
        return int(next(m["value"] for m in metrics if m["name"] == "JSHeapUsedSize"))

    page.set_input_files("#files", str(path))
    tab_cdp.send("HeapProfiler.collectGarbage")
    base_rss, base_heap = resident(), heap()
    samples: list[int] = []
    sending = threading.Event()
    sending.set()

    def watch() -> None:
        while sending.is_set():
            samples.append(resident())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    peak_heap = base_heap
    page.click("#send")
    done = page.locator("#codename")
    while not done.is_visible():
        peak_heap = max(peak_heap, heap())
        page.wait_for_timeout(100)
    sending.clear()
    watcher.join()
    tab_cdp.send("HeapProfiler.collectGarbage")
    after = resident()
    context.close()
    return {
        "rss": base_rss,
        "peak_rss": max(samples),
        "after_gc": after,
        "heap": base_heap,
        "peak_heap": peak_heap,
        "samples": len(samples),
        "series": [round((x - base_rss) / MIB) for x in samples[:: max(1, len(samples) // 40)]],
    }


def test_the_tabs_memory_does_not_grow_with_the_file(playwright_instance, site, tmp_path):
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        seen = {}
        for mb in (25, 100):
            path = tmp_path / f"{mb}.bin"
            make_file(path, mb * 1000 * 1000, seed=mb)
            seen[mb] = upload_memory(browser, site, path)
            path.unlink()
    finally:
        browser.close()
    for m in seen.values():
        m["series"] = m["series"][::4]
    print(f"\nmemory (bytes; series: MiB above the baseline): {seen}")
    grown = {mb: m["peak_rss"] - m["rss"] for mb, m in seen.items()}
    kept = {mb: m["after_gc"] - m["rss"] for mb, m in seen.items()}
    heap = {mb: m["peak_heap"] - m["heap"] for mb, m in seen.items()}
    assert all(m["samples"] >= 10 for m in seen.values()), seen
    # The JS heap holds no part of the file at all.
    assert heap[100] < 16 * MIB, heap
    # What the renderers keep once garbage is collected does not grow with the file: the 100 MB
    # upload keeps less than 64 MiB, and less than 48 MiB more than the 25 MB one (which keeps
    # 18-40 MiB from run to run). Keeping the file would add its 75 MB of difference.
    assert kept[100] < 64 * MIB and kept[100] < kept[25] + 48 * MIB, kept
    # Their peak is the parts sent but not yet collected (V8 collects them with the sealer's own
    # garbage, every few dozen MiB): far below the file, and not four times the 25 MB one's.
    assert grown[100] < 160 * MIB and grown[100] < 1.5 * grown[25] + 64 * MIB, grown


def test_stop_sending_deletes_what_arrived(open_tab, fresh_site, proxy, tmp_path):
    path = tmp_path / "draft.bin"
    make_file(path, 9 * MIB, seed=9)
    tab = open_tab("wasm", SimpleNamespace(url=proxy.url), record_bodies=False)
    tab.goto("/")
    tab.page.set_input_files("#files", str(path))
    proxy.hold_after(5 * MIB)
    tab.page.click("#send")
    assert proxy.held.wait(300)
    ((_name, record),) = records(tab).items()
    upload_id = re.search(r'"id":"([^"]+)"', record)[1]
    tab.page.click("#stop")
    expect_status = "Sending stopped. Your tip was not sent."
    tab.page.wait_for_function(f"() => document.getElementById('status').textContent === {expect_status!r}")
    proxy.release()
    assert records(tab) == {}
    assert (
        tab.page.is_enabled("#send") and tab.page.is_hidden("#stop") and tab.page.is_hidden("#progress-box")
    )
    for _ in range(100):  # the DELETE, tried again while the cut part is cut back (423)
        head = fresh_site.request("HEAD", f"/uploads/{upload_id}", headers={"Tus-Resumable": "1.0.0"})
        if head.status == 404:
            break
        time.sleep(0.2)
    assert head.status == 404
    assert "DELETE" in [method for method, _url, _headers, _body in tab.sent]
    assert fresh_site.submission_count() == 0
