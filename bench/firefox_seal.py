"""How fast envelope.js seals in Firefox ESR at Tor Browser's "Safer" prefs (and, for contrast, "Standard").

Issue 14 plans pipelined uploads around the seal rate a source at Safer gets: no JIT, no
WebAssembly, so libsodium runs its plain-JS build. This measures it in Debian's firefox-esr,
the nearest stand-in for Tor Browser, started as the tests start it (tests/browser/firefox.py:
the same prefs, loopback only). It is run by hand, never by the test suite:

    .venv/bin/python bench/firefox_seal.py [--sizes 4,16] [--runs 3] [--levels safer,standard,jitless]

Each run makes a Blob of random bytes in the page, then times TiplineEnvelope.sealBlob on it
with the page's own clock (privacy.resistFingerprinting rounds it to a few ms; the runs last
seconds). sodium.js has started before the clock starts. It prints the best and the median
MiB/s over --runs, per size and level. "jitless" runs the same script in Chromium with
--js-flags=--jitless (tests/browser/conftest.py's jitless mode), for comparison in the same run.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nacl.public import PrivateKey

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, JS_DIR, TEST_PAGE
from tests.browser.firefox import NetworkTrap, launch

# Safer is what launch() sets; Standard turns the JITs and WebAssembly back on.
LEVELS = {
    "safer": {},
    "standard": {
        "javascript.options.ion": True,
        "javascript.options.baselinejit": True,
        "javascript.options.wasm": True,
    },
}

# Marionette awaits a returned promise; the script body itself is not async.
SEAL = """
const [mib, keyB64] = arguments;
return (async () => {
// The page's own Uint8Array: envelope.js checks instanceof, and the script runs in a sandbox of its own.
const key = window.Uint8Array.from(atob(keyB64), (c) => c.charCodeAt(0));
await sodium.ready;
const parts = [];
for (let i = 0; i < mib * 16; i++) {
  const b = new Uint8Array(65536);
  crypto.getRandomValues(b);
  parts.push(b);
}
const blob = new Blob(parts);
const t0 = performance.now();
const env = await TiplineEnvelope.sealBlob(blob, {kind: "file", name: "x.bin", type: ""}, [key]);
const ms = performance.now() - t0;
return [ms, env.size, typeof WebAssembly];
})();
"""


def firefox_runs(work: Path, trap: NetworkTrap, level: str, url: str, mib: int, key: str, runs: int):
    ff = launch(work, trap, LEVELS[level])
    try:
        ff.client.navigate(url)
        out = []
        for _ in range(runs):
            # sandbox=None: the page's own scope, where sodium and TiplineEnvelope live.
            ms, size, wasm = ff.client.execute_script(
                SEAL, script_args=(mib, key), sandbox=None, script_timeout=600_000
            )
            assert size > mib << 20
            out.append((ms, wasm))
        return out, ff.startup_seconds
    finally:
        ff.close()


def chromium_runs(url: str, mib: int, key: str, runs: int):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        started = time.monotonic()
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--js-flags=--jitless"])
        page = browser.new_page()
        page.goto(url)
        startup = time.monotonic() - started
        body = "async (args) => { const arguments_ = args; " + SEAL.replace("arguments", "arguments_") + "}"
        out = []
        for _ in range(runs):
            ms, size, wasm = page.evaluate(body, [mib, key])
            assert size > mib << 20
            out.append((ms, wasm))
        browser.close()
        return out, startup


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="4,16", help="MiB, comma-separated")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--levels", default="safer,standard")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "web"
        (root / "js").mkdir(parents=True)
        for name in ("sodium.js", "envelope.js"):
            shutil.copyfile(JS_DIR / name, root / "js" / name)
        (root / "index.html").write_text(TEST_PAGE, "utf-8")
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root))
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        trap = NetworkTrap()
        print(f"{'level':<9} {'MiB':>5} {'best MiB/s':>11} {'median':>8}  startup s  WebAssembly")
        try:
            for level in args.levels.split(","):
                for mib in sizes:
                    if level == "jitless":
                        results, startup = chromium_runs(url, mib, key, args.runs)
                    else:
                        results, startup = firefox_runs(
                            Path(tmp) / f"{level}-{mib}", trap, level, url, mib, key, args.runs
                        )
                    rates = [mib / (ms / 1000) for ms, _ in results]
                    print(
                        f"{level:<9} {mib:>5} {max(rates):>11.2f} {statistics.median(rates):>8.2f}"
                        f"  {startup:>9.1f}  {results[0][1]}"
                    )
        finally:
            trap.close()
            server.shutdown()
        if trap.asked:
            print(f"Firefox tried to reach a network: {trap.asked}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
