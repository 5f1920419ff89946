"""Time codename derivation (docs/conversations.md) in Python and in Chromium's three modes.

Deriving a codename is one Argon2id call and three cheap BLAKE2b/X25519
steps. Its cost is fixed by the format, and the slowest place it must run is
Tor Browser at "Safer": no JIT, no WebAssembly, so libsodium.js runs its
wasm2js build in the interpreter. This script measures that cost, for the
chosen parameters and for heavier alternatives, so the choice can be
re-checked on any machine. It is run by hand, never by the test suite:

    .venv/bin/python bench/codename.py [--runs 7] [--budget-s 20]

Modes: python (PyNaCl, what the server does with JavaScript off), wasm (a
normal Chromium), no-wasm (WebAssembly deleted before any script runs, as
Tor Browser "Safer" does) and jitless (Chromium with --js-flags=--jitless,
which also has no WebAssembly: the closest to "Safer"). Each cell is the
median and p90 over --runs derivations in one page, after one untimed warm-up
(which also loads the wasm2js module); a cell whose first run takes longer
than --budget-s is run once and marked ">". The derivation in the page is the
same sequence as codename.js; for the chosen parameters it is
TiplineCodename.derive itself, and its result is compared with Python's.
"""

from __future__ import annotations

import argparse
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

import nacl.pwhash.argon2id
from nacl import bindings

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tipline.format import codename

JS = Path(codename.__file__).parents[1] / "web" / "static" / "js"
SCRIPTS = ("sodium-sumo.js", "codename-words.js", "codename.js")
CHOSEN = (codename.OPSLIMIT, codename.MEMLIMIT)
ALTERNATIVES = ((1, 1536 * 1024), (1, 2048 * 1024), (2, 4096 * 1024))
MODES = ("python", "wasm", "no-wasm", "jitless")

TIME_JS = """async ([codename, salt, ops, mem, runs, budgetMs, chosen]) => {
  const bytes = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  await sodium.ready;
  const enc = new TextEncoder();
  const cat = (a, b) => {
    const o = new Uint8Array(a.length + b.length);
    o.set(a);
    o.set(b, a.length);
    return o;
  };
  // codename.js's derive, with the cost as a parameter (codename.js fixes it: it is the format).
  const once = async () => {
    if (chosen) return (await TiplineCodename.derive(codename, bytes(salt))).publicKey;
    const s = sodium.crypto_generichash(16, cat(enc.encode("tipline/v1/codename-salt"), bytes(salt)), null);
    const m = sodium.crypto_pwhash(32, enc.encode(TiplineCodename.normalise(codename)), s, ops, mem,
                                   sodium.crypto_pwhash_ALG_ARGON2ID13);
    sodium.crypto_kdf_derive_from_key(32, 1, "TLconv01", m);
    return sodium.crypto_box_seed_keypair(sodium.crypto_kdf_derive_from_key(32, 2, "TLconv01", m)).publicKey;
  };
  let t = performance.now();
  const pk = hex(await once());
  const first = performance.now() - t;
  if (first > budgetMs) return {pk, times: [first], over: true};
  const times = [];
  for (let i = 0; i < runs; i++) {
    t = performance.now();
    await once();
    times.push(performance.now() - t);
  }
  return {pk, times, over: false};
}"""


def python_derive(text: str, salt: bytes, ops: int, mem: int) -> bytes:
    """tipline.format.codename.derive with the cost as a parameter; the public key."""
    canonical = codename.normalise(text).encode()
    master = nacl.pwhash.argon2id.kdf(32, canonical, codename.argon2_salt(salt), opslimit=ops, memlimit=mem)
    codename.kdf_derive_from_key(32, 1, codename.KDF_CONTEXT, master)
    seed = codename.kdf_derive_from_key(32, 2, codename.KDF_CONTEXT, master)
    return bindings.crypto_box_seed_keypair(seed)[0]


def time_python(text: str, salt: bytes, ops: int, mem: int, runs: int) -> list[float]:
    python_derive(text, salt, ops, mem)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        python_derive(text, salt, ops, mem)
        times.append((time.perf_counter() - t) * 1000)
    return times


def p90(times: list[float]) -> float:
    s = sorted(times)
    return s[min(len(s) - 1, round(0.9 * (len(s) - 1)))]


def cell(times: list[float], over: bool) -> str:
    if over:
        return f"> {times[0] / 1000:.1f} s (1 run)"
    return f"{ms(statistics.median(times))} / {ms(p90(times))} ms"


def ms(x: float) -> str:
    return f"{x:.1f}" if x < 10 else f"{x:.0f}"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_Quiet, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/codename.html"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--budget-s", type=float, default=20.0)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    text, salt = codename.new_codename(), codename.new_install_salt()
    settings = [CHOSEN, *ALTERNATIVES]
    results: dict[tuple[int, int], dict[str, str]] = {s: {} for s in settings}
    medians: dict[tuple[int, int], dict[str, float]] = {s: {} for s in settings}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "js").mkdir()
        for name in SCRIPTS:
            shutil.copyfile(JS / name, root / "js" / name)
        tags = "".join(f'<script src="js/{n}"></script>' for n in SCRIPTS)
        (root / "codename.html").write_text(f"<!doctype html><meta charset=utf-8><title>bench</title>{tags}")
        srv, url = serve(root)
        try:
            for s in settings:
                t = time_python(text, salt, *s, args.runs)
                results[s]["python"], medians[s]["python"] = cell(t, False), statistics.median(t)
            with sync_playwright() as p:
                for mode in MODES[1:]:
                    flags = ["--js-flags=--jitless"] if mode == "jitless" else []
                    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + flags)
                    page = browser.new_page()
                    page.set_default_timeout(600_000)
                    if mode == "no-wasm":
                        page.add_init_script("delete globalThis.WebAssembly")
                    page.goto(url)
                    for s in settings:
                        r = page.evaluate(
                            TIME_JS, [text, salt.hex(), *s, args.runs, args.budget_s * 1000, s == CHOSEN]
                        )
                        if r["pk"] != python_derive(text, salt, *s).hex():
                            print(f"{mode}: the browser derived another key than Python", file=sys.stderr)
                            return 1
                        results[s][mode] = cell(r["times"], r["over"])
                        medians[s][mode] = statistics.median(r["times"])
                    browser.close()
        finally:
            srv.shutdown()
            srv.server_close()

    print(f"Codename derivation, median / p90 of {args.runs} runs (after one warm-up)\n")
    head = ["opslimit", "memlimit", *MODES, "jitless / python", "jitless / wasm"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for s in settings:
        ops, mem = s
        m = medians[s]
        tag = " (chosen)" if s == CHOSEN else ""
        row = [
            f"{ops}{tag}",
            f"{mem // 1024} KiB",
            *(results[s][k] for k in MODES),
            f"{m['jitless'] / m['python']:.0f}x",
            f"{m['jitless'] / m['wasm']:.0f}x",
        ]
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
