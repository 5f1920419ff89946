"""Time a large file through the source page: sealing, sending, and the pipelined upload, in one run.

Issue 14 made the page send each envelope in parts while it still seals the
rest (tipline/web/static/js/upload.js, docs/uploads.md). This script measures
whether that pays: the whole upload against the slower of its two halves, next
to today's single request, whose total is their sum. It is run by hand (as
root: it needs a private network namespace), never by the test suite:

    .venv/bin/python bench/upload.py [--sizes 20,200] [--modes wasm,jitless] [--runs 1]
                                     [--no-tor] [--markdown] [--keep]

What it does, for each size (MB), mode and network:

* seal: in the real source page, TiplineEnvelope.sealBlob of the picked file
  (the file input, as a source picks it), timed in the page;
* send: that envelope POSTed in one request, as the page did before issue 14
  (/submit?sealed=browser, the envelope as a multipart file part, a random
  source key and verifier in the headers), timed in the page from send() to
  the JSON answer. "today" = seal + send;
* whole: the real form: click on Send to the codename shown (a codename is
  made, the file sealed and sent in parts, the tip committed);
* cut: the same, with the connection dropped once half of the file went out.
  Over loopback, a TCP proxy (bench/cut_proxy.py) resets the connection that
  carries that byte; every loopback variant goes through the same proxy. Over
  Tor, once the pending upload on the server's disk holds half the file, every
  circuit of the client tor to the onion is closed through its control socket
  (tests/tor/circuits.py). "extra" = (cut - whole) / whole;
* memory: the source app's gunicorn master and workers, summed Pss (and RSS)
  from /proc every 0.2 s: the sample just before, and the peak, during the
  whole upload (and during the single request, for today); the renderer's
  peak Pss (the largest Chromium renderer in this run's namespace).

Modes: wasm is a normal Chromium; jitless is Chromium with --js-flags=--jitless,
which also has no WebAssembly (libsodium falls back to wasm2js), as Tor
Browser at "Safer" has neither. Networks: loopback, straight to `tipline
serve` (through the proxy); tor, tests/tor/harness.py's TiplineOnTor (a
private Tor network of 5 relays, deploy/torrc's onion service), Chromium's
only way out being the client tor's SOCKS port.

Runs are interleaved (for each run: every network, every mode, seal and send
then whole then cut), so that a noisy machine spreads over all variants.
Each run checks that its tip arrived (exactly one new submission folder on the
server); at the end one pipelined tip per network is decrypted by the real
`tipline-offline decrypt` and compared byte for byte. A failure exits 1.
The table gives medians; the load average is printed with it.

Caveat: the browser, gunicorn, every tor relay and this script share the
machine's cores (2 on the reference VM, shared with other work), and loopback
has no latency: over Tor the figures are Tor's cryptography and scheduling on
one machine, not real circuits' round trips.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cut_proxy import CutProxy
from proc_memory import Sampler

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, THANKS, WATCH
from tests.conftest import decrypt_with
from tests.tor.circuits import close_circuits
from tests.tor.harness import NetNamespace, TiplineOnTor, Unavailable
from tests.web.server import Server, make_server

MB = 1000 * 1000
MIB = 1024 * 1024
PASSPHRASE = "bench upload passphrase, never used elsewhere"
TIMEOUT_MS = 3_600_000
RETRY_RE = re.compile(r"retry", re.I)

# In the page: the tip has arrived (its codename is shown), or the page gave up and says why.
ENDED = """() => { const done = document.getElementById("done"), status = document.getElementById("status");
  return (done && !done.hidden) || (status && status.textContent.trim() !== ""); }"""

# In the page: seal the picked file with the form's keys; keep the envelope for SEND.
SEAL = """async () => {
  const form = document.getElementById("tip-form");
  const keys = form.dataset.recipients.split(",").filter(Boolean)
    .map((k) => Uint8Array.from(atob(k), (c) => c.charCodeAt(0)));
  await sodium.ready;
  const f = document.getElementById("files").files[0];
  const t0 = performance.now();
  window.benchEnvelope = await TiplineEnvelope.sealBlob(f, TiplineEnvelope.fileMeta(f.name, f.type), keys);
  return (performance.now() - t0) / 1000;
}"""

# In the page: what the form does before it seals, for a first tip (submit.js's makeCodename).
CODENAME = """async () => {
  const form = document.getElementById("tip-form");
  const t0 = performance.now();
  const words = await TiplineCodename.newCodename();
  const salt = sodium.from_base64(form.dataset.installSalt, sodium.base64_variants.URLSAFE_NO_PADDING);
  const d = await TiplineCodename.derive(words, salt);
  sodium.memzero(d.secretKey);
  return (performance.now() - t0) / 1000;
}"""

# In the page: the single request the page made before issue 14 (submit.js's old send()).
SEND = """([key, verifier]) => new Promise((resolve) => {
  const form = document.getElementById("tip-form");
  const data = new FormData();
  data.append("csrf_token", form.elements.csrf_token.value);
  data.append("envelope", window.benchEnvelope, "0.envelope");
  const xhr = new XMLHttpRequest();
  xhr.open("POST", form.getAttribute("action") + "?sealed=browser");
  xhr.setRequestHeader("Accept", "application/json");
  xhr.setRequestHeader("Tipline-Source-Public-Key", key);
  xhr.setRequestHeader("Tipline-Verifier", verifier);
  let t0 = 0;
  xhr.onload = () =>
    resolve({status: xhr.status, body: xhr.responseText, s: (performance.now() - t0) / 1000});
  xhr.onerror = () => resolve({status: 0, body: "network error", s: 0});
  t0 = performance.now();
  xhr.send(data);
}).finally(() => { window.benchEnvelope = null; })"""


# -- where the page comes from -----------------------------------------------------------------


@dataclass
class Target:
    """One network: the page's origin, the server behind it, the browsers, and how to cut."""

    name: str
    origin: str
    server: Server
    launch_args: list[str]
    arm_cut: Callable[[int], Callable[[], int]]  # (bytes) -> a function giving the cuts made so far
    browsers: dict[str, object] = field(default_factory=dict)

    def folders(self) -> set[str]:
        done = self.server.data_dir / "store" / "submissions"
        return {d.name for d in done.iterdir()} if done.is_dir() else set()


def loopback_target(base: Path, pub: Path) -> tuple[Target, Callable[[], None]]:
    server = make_server(base / "loopback", pub).start()
    proxy = CutProxy(server.port)

    def arm(n: int) -> Callable[[], int]:
        before = proxy.cuts
        proxy.cut_after(n)
        return lambda: proxy.cuts - before

    def stop() -> None:
        proxy.close()
        server.stop()

    return Target("loopback", f"http://127.0.0.1:{proxy.port}", server, [], arm), stop


def tor_target(site: TiplineOnTor) -> Target:
    pending = site.source.data_dir / "store" / "pending" / "uploads"

    def held(names: set[str]) -> int:
        total = 0
        for p in pending.iterdir() if pending.is_dir() else ():
            if p.name not in names and "." not in p.name:
                with contextlib.suppress(OSError):
                    total += p.stat().st_size
        return total

    def arm(n: int) -> Callable[[], int]:
        old = {p.name for p in pending.iterdir()} if pending.is_dir() else set()
        cuts = [0]

        def watch() -> None:
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                if held(old) >= n:
                    if close_circuits(site.client.control, site.source_onion):
                        cuts[0] += 1
                    return
                time.sleep(0.05)

        threading.Thread(target=watch, daemon=True).start()
        return lambda: cuts[0]

    args = [
        f"--proxy-server=socks5://127.0.0.1:{site.client.socks_port}",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ]
    return Target("tor", f"http://{site.source_onion}", site.source, args, arm)


# -- one measurement ---------------------------------------------------------------------------


@dataclass
class Row:
    """Every sample of one (network, size, mode)."""

    net: str
    size: int
    mode: str
    seal: list[float] = field(default_factory=list)
    send: list[float] = field(default_factory=list)
    whole: list[float] = field(default_factory=list)
    cut: list[float] = field(default_factory=list)
    mem_base: list[float] = field(default_factory=list)  # server Pss before the whole upload
    mem_whole: list[float] = field(default_factory=list)  # server Pss peak during it
    mem_today: list[float] = field(default_factory=list)  # server Pss peak during the single request
    renderer: list[float] = field(default_factory=list)  # renderer Pss peak, whole upload
    renderer_today: list[float] = field(default_factory=list)  # renderer Pss peak, seal then send
    codename: list[float] = field(default_factory=list)  # making the codename, in the page
    retried: list[bool] = field(default_factory=list)  # the page said it was retrying (cut runs)
    failures: list[str] = field(default_factory=list)
    attempts: int = 0  # runs begun


class Bench:
    def __init__(self, pw: object, netns: str) -> None:
        self.pw, self.netns = pw, netns
        self.checked: dict[str, str] = {}  # network -> a pipelined tip's submission folder

    def browser(self, target: Target, mode: str):
        if mode not in target.browsers:
            args = (
                CHROMIUM_ARGS + target.launch_args + (["--js-flags=--jitless"] if mode == "jitless" else [])
            )
            target.browsers[mode] = self.pw.chromium.launch(executable_path=CHROMIUM, args=args)
        return target.browsers[mode]

    def _page(self, target: Target, mode: str):
        context = self.browser(target, mode).new_context()
        context.add_init_script(WATCH)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        progress: list[str] = []
        page.on("console", lambda m: m.text.startswith("progress: ") and progress.append(m.text[10:]))
        page.goto(target.origin + "/", timeout=300_000)
        page.wait_for_function("document.getElementById('tip-form').dataset.crypto === 'ready'")
        return context, page, progress

    def _arrived(self, target: Target, before: set[str], what: str) -> str:
        new = target.folders() - before
        if len(new) != 1:
            raise RuntimeError(f"{what}: {len(new)} new submission folders, not 1")
        return new.pop()

    def today(self, target: Target, row: Row, file: Path) -> str:
        context, page, _ = self._page(target, row.mode)
        try:
            page.set_input_files("#files", str(file))
            before = target.folders()
            codename = page.evaluate(CODENAME)
            with Sampler(target.server.proc.pid, self.netns) as seal_mem:
                seal = page.evaluate(SEAL)
            key, verifier = (base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode() for _ in "kv")
            with Sampler(target.server.proc.pid, self.netns) as mem:
                sent = page.evaluate(SEND, [key, verifier])
            if sent["status"] != 200 or '"ok": true' not in sent["body"].replace('"ok":true', '"ok": true'):
                raise RuntimeError(f"single request: HTTP {sent['status']} {sent['body'][:200]!r}")
            self._arrived(target, before, "single request")
            row.seal.append(seal)
            row.codename.append(codename)
            row.send.append(sent["s"])
            row.mem_today.append(mem.peak[0])
            row.renderer_today.append(max(seal_mem.renderer, mem.renderer))
            return f"seal {seal:.2f} s, send {sent['s']:.2f} s, server peak {mem.peak[0]:.0f} MiB"
        finally:
            context.close()

    def whole(self, target: Target, row: Row, file: Path, cut: bool) -> str:
        context, page, progress = self._page(target, row.mode)
        try:
            page.set_input_files("#files", str(file))
            before = target.folders()
            cuts = target.arm_cut(file.stat().st_size // 2) if cut else None
            with Sampler(target.server.proc.pid, self.netns) as mem:
                t0 = time.perf_counter()
                page.click("#send")
                page.wait_for_function(ENDED)
                seconds = time.perf_counter() - t0
            if page.locator("#codename").is_hidden():
                raise RuntimeError(f"the page gave up: {page.inner_text('#status')!r}")
            if page.inner_text("h1") != THANKS:
                raise RuntimeError(f"the page says {page.inner_text('h1')!r}")
            folder = self._arrived(target, before, "pipelined upload")
            if cut:
                if cuts() != 1:
                    raise RuntimeError(f"the connection was cut {cuts()} times, not once")
                # Chromium resends a request that failed on a reused connection once by itself: the
                # page sees the cut (and says it is retrying) only when that resend fails too.
                row.retried.append(any(RETRY_RE.search(p) for p in progress))
                row.cut.append(seconds)
                self.checked[target.name] = folder
            else:
                row.whole.append(seconds)
                row.mem_base.append(mem.before[0])
                row.mem_whole.append(mem.peak[0])
                row.renderer.append(mem.renderer)
            retried = f", page retried: {row.retried[-1]}" if cut else ""
            return f"{seconds:.2f} s, server {mem.before[0]:.0f} -> {mem.peak[0]:.0f} MiB{retried}"
        finally:
            context.close()


# -- the run -----------------------------------------------------------------------------------


def make_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        for start in range(0, size, MIB):
            f.write(os.urandom(min(MIB, size - start)))
    return path


def decrypt_check(target: Target, folder: str, keys: Path, files: list[Path], work: Path) -> str:
    """The real `tipline-offline decrypt` of one stored tip; '' if it gives back one of FILES exactly."""
    out = work / f"decrypted-{target.name}"
    envelopes = target.server.data_dir / "store" / "submissions" / folder
    r = decrypt_with(keys, out, envelopes)  # the tests' own call of the real offline tool
    if r.returncode != 0:
        return f"decrypt failed: {r.stderr.strip()[-300:]}"
    got = [p for p in out.rglob("*") if p.is_file() and p.parent.name == "files"]
    if len(got) != 1:
        return f"decrypt gave {len(got)} files, not 1"
    source = next((f for f in files if f.name == got[0].name), None)
    if source is None or not same_bytes(source, got[0]):
        return f"{got[0].name} is not the file that was sent"
    shutil.rmtree(out)
    return ""


def same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while chunk := fa.read(MIB):
            if chunk != fb.read(MIB):
                return False
    return True


def _med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _s(x: float) -> str:
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def table(rows: list[Row], markdown: bool) -> str:
    head = [
        "network",
        "MB",
        "mode",
        "runs ok",
        "seal s",
        "send s",
        "today s",
        "today ratio",
        "whole s",
        "ratio",
        "cut s",
        "cut extra",
        "page retried",
        "codename s",
        "server MiB",
        "server today",
        "renderer MiB",
    ]
    body = []
    for r in rows:
        seal, send, whole, cut = _med(r.seal), _med(r.send), _med(r.whole), _med(r.cut)
        slow = max(seal, send)
        runs = min(len(r.seal), len(r.whole), len(r.cut))
        retried = sum(r.retried)
        body.append(
            [
                r.net,
                str(r.size // MB),
                r.mode,
                f"{runs}/{r.attempts}",
                _s(seal),
                _s(send),
                _s(seal + send),
                f"{(seal + send) / slow:.2f}",
                _s(whole),
                f"{whole / slow:.2f}",
                _s(cut),
                f"{100 * (cut - whole) / whole:+.0f} %",
                f"{retried}/{len(r.retried)}",
                _s(_med(r.codename)),
                f"{_med(r.mem_base):.0f} → {_med(r.mem_whole):.0f}",
                f"{_med(r.mem_today):.0f}",
                f"{_med(r.renderer):.0f} ({_med(r.renderer_today):.0f})",
            ]
        )
    if markdown:
        lines = [
            "| " + " | ".join(head) + " |",
            "|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|",
        ]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(x, widths, strict=True)))
        for x in [head, *body]
    )


def variant(bench: Bench, target: Target, row: Row, file: Path, label: str) -> None:
    """Seal then send (today), the whole upload, the upload with a cut: one sample of each into ROW."""
    row.attempts += 1
    for what, fn, kw in (
        ("seal + send", bench.today, {}),
        ("whole", bench.whole, {"cut": False}),
        ("cut", bench.whole, {"cut": True}),
    ):
        t = time.perf_counter()
        try:
            got = fn(target, row, file, **kw)
        except Exception as e:  # recorded; the exit code says it
            row.failures.append(f"{what}: {type(e).__name__}: {e}")
            print(f"{label}, {what}: FAILED {e}", file=sys.stderr)
        else:
            print(f"{label}, {what}: {got} ({time.perf_counter() - t:.0f} s in all)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--sizes", default="20,200", help="file sizes in MB, comma-separated (default 20,200)")
    p.add_argument("--modes", default="wasm,jitless", help="browser modes (default wasm,jitless)")
    p.add_argument("--runs", type=int, default=1, help="runs of every variant (default 1)")
    p.add_argument("--no-tor", action="store_true", help="loopback only (no private Tor network)")
    p.add_argument("--no-loopback", action="store_true", help="Tor only")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (files, logs, tips)")
    args = p.parse_args(argv)
    sizes = [int(float(x) * MB) for x in args.sizes.split(",")]
    modes = args.modes.split(",")
    if args.runs < 1 or not set(modes) <= {"wasm", "jitless"} or (args.no_tor and args.no_loopback):
        p.error("--runs must be at least 1, --modes wasm and/or jitless, and some network left")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("bench/upload.py needs Playwright: .venv/bin/pip install -e '.[test]'", file=sys.stderr)
        return 2

    base = Path(tempfile.mkdtemp(prefix="tipline-upload-bench-"))
    keys = base / "keys"
    keys.mkdir()
    (keys / "pass.txt").write_text(PASSPHRASE + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tipline.offline",
            "keygen",
            "--out",
            str(keys),
            "--passphrase-file",
            str(keys / "pass.txt"),
        ],
        check=True,
        capture_output=True,
    )
    files = {n: make_file(base / f"tip-{n // MB}MB.bin", n) for n in sizes}
    rows: dict[tuple[str, int, str], Row] = {}
    problems: list[str] = []
    load = [os.getloadavg()]
    t_start = time.perf_counter()
    stops: list[Callable[[], None]] = []
    site = None
    try:
        with NetNamespace() as ns:
            targets = []
            if not args.no_tor:
                print("starting the private Tor network...", file=sys.stderr)
                site = TiplineOnTor(base / "tor", keys / "journalist.pub")
                stops.append(site.stop)
                site.start()
            if not args.no_loopback:
                loop, stop = loopback_target(base, keys / "journalist.pub")
                stops.append(stop)
                targets.append(loop)
            if site is not None:
                targets.append(tor_target(site))
            with sync_playwright() as pw:
                bench = Bench(pw, ns.ident)
                for run in range(args.runs):
                    for size in sizes:
                        for target in targets:
                            for mode in modes:
                                row = rows.setdefault((target.name, size, mode), Row(target.name, size, mode))
                                label = f"run {run + 1}/{args.runs}: {target.name}, {size // MB} MB, {mode}"
                                variant(bench, target, row, files[size], label)
                                load.append(os.getloadavg())
                for target in targets:
                    if target.name not in bench.checked:
                        problems.append(f"{target.name}: no cut upload arrived to decrypt")
                    elif err := decrypt_check(
                        target, bench.checked[target.name], keys, list(files.values()), base
                    ):
                        problems.append(f"{target.name}: {err}")
                for target in targets:
                    for b in target.browsers.values():
                        b.close()
    except Unavailable as e:
        print(f"bench/upload.py cannot run here: {e}", file=sys.stderr)
        return 2
    finally:
        for stop in reversed(stops):
            stop()
        if args.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)

    for r in rows.values():
        problems += [f"{r.net} {r.size // MB} MB {r.mode}: {f}" for f in r.failures]
    print()
    print(table(list(rows.values()), args.markdown))
    print()
    loads = ", ".join(f"{x[0]:.2f}" for x in load)
    print(
        f"Medians of {args.runs} run(s), interleaved. Load average (1 min) at the start and after each "
        f"variant: {loads}; {os.cpu_count()} cores. Whole run {time.perf_counter() - t_start:.0f} s."
    )
    print(
        "today = seal + send (one request, as before issue 14); ratios are over max(seal, send). "
        "whole = click on Send to codename shown (pipelined upload.js, codename included). "
        "cut extra = (cut - whole) / whole, the connection dropped at 50 % of the file; page retried: "
        "runs where the page itself saw the cut (else Chromium resent the part by itself). "
        "codename s: making a first tip's codename in the page, which whole includes. "
        "server MiB: source app's gunicorn, summed Pss before -> peak of the whole upload; server today: "
        "peak during the single request; renderer: peak Pss, whole upload (seal + send)."
    )
    for pr in problems:
        print(f"FAILED: {pr}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
