"""Large tips sent in parts while they are sealed (docs/uploads.md), in a real Chromium.

Files are made from a seeded generator and compared by hash, so no test holds one twice.
Each tip is exported with the real `tipline export` and decrypted with the real
`tipline-offline`. A TCP proxy on loopback (tests/browser/proxy.py) stands between the
browser and gunicorn where the connection must drop or stall.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.browser.conftest import THANKS, export_and_decrypt, first_done
from tests.browser.proxy import Proxy
from tests.web.server import Server, make_server
from tipline.format.payload import Metadata
from tipline.format.stream import CHUNK

MIB = 1024 * 1024
LONG = 900_000  # ms: 100 MB without a JIT seals at about 1 MiB/s
RETRYING = re.compile(r"Connection lost\. Retrying in \d+ s\.")


def make_file(path: Path, size: int, seed: int) -> str:
    """Write `size` seeded random bytes to path, a MiB at a time; returns their SHA-256."""
    rng, digest = random.Random(seed), hashlib.sha256()
    with path.open("wb") as f:
        for start in range(0, size, MIB):
            block = rng.randbytes(min(MIB, size - start))
            f.write(block)
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def envelope_length(size: int, name: str) -> int:
    """The length of a file's envelope sealed to one key (docs/envelope.md), as the page computes it."""
    from tipline.format.padding import padme

    meta = Metadata("file", name, "application/octet-stream").encode(size)
    total = padme(size + len(meta) + 2)
    return 9 + 88 + 24 + total + 17 * -(-total // CHUNK)


@pytest.fixture
def fresh_site(tmp_path, keydir) -> Iterator[Server]:
    """A tip line of its own: its export holds this test's tip only."""
    srv = make_server(tmp_path / "site", keydir / "journalist.pub").start()
    yield srv
    srv.stop()


@pytest.fixture
def proxy(fresh_site) -> Iterator[Proxy]:
    p = Proxy(fresh_site.port).start()
    yield p
    p.stop()


def decrypted_file(srv: Server, keydir: Path, work: Path, name: str) -> Path:
    out = export_and_decrypt(srv, keydir, work)
    (found,) = out.rglob(f"files/{name}")
    return found


def send_file(tab, path: Path, timeout: float = LONG) -> float:
    """Pick the file in the form and send it as a first tip; returns the seconds it took."""
    tab.page.set_input_files("#files", str(path))
    began = time.monotonic()
    tab.page.click("#send")
    first_done(tab.page, timeout=timeout)
    return time.monotonic() - began


def records(tab) -> dict[str, str]:
    return tab.page.evaluate(
        """() => Object.fromEntries(Object.keys(sessionStorage)
             .filter((k) => k.startsWith("tipline.upload.")).map((k) => [k, sessionStorage.getItem(k)]))"""
    )


def held_by(srv: Server, upload_id: str) -> int:
    """The server's Upload-Offset, once no request writes to the upload any more (423 until then)."""
    for _ in range(600):
        head = srv.request("HEAD", f"/uploads/{upload_id}", headers={"Tus-Resumable": "1.0.0"})
        if head.status != 423:
            assert head.status == 200, (head.status, head.body)
            return int(head.header("Upload-Offset"))
        time.sleep(0.1)
    raise AssertionError("the upload stayed busy")


# -- 100 MB, pipelined, in both engines -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["wasm", "jitless"])
def test_a_100_mb_file_arrives_byte_for_byte(open_tab, fresh_site, keydir, tmp_path, mode):
    size = 100 * 1000 * 1000
    path = tmp_path / f"video-{mode}.mp4"
    digest = make_file(path, size, seed=100)
    tab = open_tab(mode, fresh_site, record_bodies=False)
    tab.goto("/")
    seconds = send_file(tab, path)
    print(f"\n100 MB, {mode}: sealed and sent in parts in {seconds:.1f} s ({size / MIB / seconds:.2f} MiB/s)")
    assert tab.problems() == []
    assert records(tab) == {}  # removed at the commit
    got = decrypted_file(fresh_site, keydir, tmp_path / "out", path.name)
    assert got.stat().st_size == size and sha256_of(got) == digest
    for p in (path, got):
        p.unlink()


@pytest.mark.slow
def test_a_400_mb_file_arrives_byte_for_byte(open_tab, fresh_site, keydir, tmp_path):
    size = 400 * 1000 * 1000
    path = tmp_path / "archive.zip"
    digest = make_file(path, size, seed=400)
    tab = open_tab("wasm", fresh_site, record_bodies=False)
    tab.goto("/")
    seconds = send_file(tab, path)
    print(f"\n400 MB, wasm: {seconds:.1f} s")
    got = decrypted_file(fresh_site, keydir, tmp_path / "out", path.name)
    assert got.stat().st_size == size and sha256_of(got) == digest
    for p in (path, got):
        p.unlink()


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
    # What the renderers keep once garbage is collected does not grow with the file.
    assert kept[100] < 64 * MIB and kept[100] < kept[25] + 32 * MIB, kept
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
