"""Time how long the source page takes to be ready to encrypt in the browser.

sodium.js is about 1 MB. Until it has arrived and libsodium has started, the
page holds a tip (it says "getting ready to encrypt") instead of sending it.
This script measures that wait in a real Chromium on a real `tipline serve`
(loopback only), on a fast link and on a link throttled to a Tor-like speed
with Chromium's own network emulation (DevTools Network.emulateNetworkConditions).
It is run by hand, never by the test suite:

    .venv/bin/python bench/page_ready.py [--runs 5] [--modes wasm,jitless]
                                         [--latency-ms 600] [--kbps 2000]

For each mode (wasm: a normal browser; no-wasm: WebAssembly removed, as Tor
Browser's "Safer" level; jitless: no JIT and no WebAssembly) and link, each
run opens the page in a fresh browser context (nothing cached; the server
sends Cache-Control: no-store anyway) and reads two times from the page's
own clock, both in ms from the start of navigation:

* interactive: domInteractive, the moment the deferred submit.js can run and
  the page shows its state (a Send is held from then on, never posted);
* ready: the "tipline-crypto-ready" performance mark that submit.js sets once
  sodium.js and envelope.js have run and sodium.ready has resolved.

It prints the median and the range over --runs. No number here is asserted
anywhere: the tests check what the page does while it waits, not how long.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.web.server import make_server
from tipline.format.keys import SecretKey

TIMES = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const mark = performance.getEntriesByName("tipline-crypto-ready")[0];
  return [nav.domInteractive, mark.startTime];
}"""


def measure(browser, url: str, mode: str, throttle: dict | None) -> tuple[float, float]:
    context = browser.new_context()
    try:
        if mode == "no-wasm":
            context.add_init_script("delete globalThis.WebAssembly")
        page = context.new_page()
        page.set_default_timeout(300_000)
        if throttle:
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", {"offline": False, **throttle})
        page.goto(url + "/", wait_until="commit")
        page.wait_for_function("() => performance.getEntriesByName('tipline-crypto-ready').length > 0")
        interactive, ready = page.evaluate(TIMES)
        return interactive, ready
    finally:
        context.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--modes", default="wasm,no-wasm,jitless")
    ap.add_argument("--latency-ms", type=float, default=600, help="added round-trip time of the slow link")
    ap.add_argument("--kbps", type=float, default=2000, help="download speed of the slow link, kbit/s")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    slow = {
        "latency": args.latency_ms,
        "downloadThroughput": args.kbps * 1000 / 8,
        "uploadThroughput": args.kbps * 1000 / 16,
    }
    links = [("loopback", None), (f"{args.latency_ms:.0f} ms, {args.kbps:.0f} kbit/s", slow)]
    with tempfile.TemporaryDirectory(prefix="tipline-page-ready-") as tmp:
        base = Path(tmp)
        pub = base / "journalist.pub"
        pub.write_text(SecretKey.generate().public_key.to_text())  # the secret half is never written
        srv = make_server(base, pub).start()
        try:
            with sync_playwright() as p:
                rows = []
                for mode in args.modes.split(","):
                    flags = ["--js-flags=--jitless"] if mode == "jitless" else []
                    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + flags)
                    try:
                        for label, throttle in links:
                            runs = [measure(browser, srv.url, mode, throttle) for _ in range(args.runs)]
                            rows.append((mode, label, [r[0] for r in runs], [r[1] for r in runs]))
                    finally:
                        browser.close()
        finally:
            srv.stop()
    print(f"{args.runs} runs each; ms from the start of navigation")
    print("| mode | link | interactive (median) | ready (median) | ready (range) |")
    print("| --- | --- | --- | --- | --- |")
    for mode, label, inter, ready in rows:
        print(
            f"| {mode} | {label} | {statistics.median(inter):.0f} | {statistics.median(ready):.0f} "
            f"| {min(ready):.0f} to {max(ready):.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
