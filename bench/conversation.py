"""What a conversation costs: codename logins, the server under a login flood, replies.

Run by hand, never by the test suite (it prints figures, it asserts nothing
about time):

    .venv/bin/python bench/conversation.py [--logins 40] [--browser-runs 5] [--flood-s 6]

It starts a real `tipline serve` (gunicorn, loopback, a temporary data
folder), makes a conversation with three replies through the real pages and
store, then measures:

1. Login latency, p50 and p99: with JavaScript off (the server derives the
   codename and opens the replies), and in Chromium with WebAssembly and
   jitless (the browser derives and opens; from the click to the third reply
   on screen). A wrong codename is timed beside the right one: the two must
   cost the same.
2. The server's memory (RSS of gunicorn's master and workers) idle, and at
   its peak under 8 concurrent codename logins.
3. The form under a login flood: p99 of a no-JavaScript first tip alone, and
   while --clients processes (8) post codename logins without pause; the
   ratio is the figure that matters (the aim: at most 2x). Logins beyond the
   per-worker cap get 503, and their share is printed. The same flood of
   plain page loads is measured beside it: what any flood of requests costs
   on this machine, against what logins add to it.
4. Sealing and opening a reply in Python: 1 KiB and 64 KiB, to the source
   and 1 or 31 journalist keys.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import PASSPHRASE, run_offline
from tests.web.conversations import add_reply, first_tip, login, reply_texts, token
from tests.web.server import Server, make_server
from tipline.format import codename
from tipline.format.keys import PublicKey, SecretKey
from tipline.format.payload import Metadata
from tipline.format.stream import decrypt_bytes, seal_bytes

REPLIES = ("Which basement, please?", "Can you send the ledger itself?", "Thank you; we are checking.")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def row(name: str, ms: list[float]) -> None:
    print(f"| {name} | {len(ms)} | {pct(ms, 50):.0f} | {pct(ms, 99):.0f} |")


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def rss_mib(srv: Server) -> float:
    """RSS of the server's process group (master and workers), in MiB."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            pgid = int(Path(status.parent, "stat").read_text().rsplit(")", 1)[1].split()[2])
        except (OSError, ValueError, IndexError):
            continue
        if pgid == srv.proc.pid:
            for line in text.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def server_logins(srv: Server, typed: str, wrong: str, n: int) -> None:
    ok = [timed(lambda: assert_replies(login(srv, typed))) for _ in range(n)]
    bad = [timed(lambda: login(srv, wrong)) for _ in range(n)]
    print("\n## 1. Codename login latency (ms)\n")
    print("| path | runs | p50 | p99 |\n| --- | --- | --- | --- |")
    row("JavaScript off, right codename (derive + open 3 replies, server side)", ok)
    row("JavaScript off, wrong codename", bad)


def assert_replies(r) -> None:
    if r.status != 200 or sorted(reply_texts(r)) != sorted(REPLIES):
        raise SystemExit(f"login failed: {r.status}")


def browser_logins(srv: Server, typed: str, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as p:
        for mode, extra in (("Chromium, WebAssembly", []), ("Chromium, jitless", ["--js-flags=--jitless"])):
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + extra)
            times = []
            for i in range(runs + 1):  # the first run warms the cache and is not counted
                page = browser.new_context().new_page()
                page.set_default_timeout(120_000)
                page.goto(srv.url + "/conversation")
                page.wait_for_selector("#login-form[data-crypto=ready]")
                page.fill("#codename-entry", typed)
                t = time.perf_counter()
                page.click("#open")
                page.locator("#replies .reply-text").nth(2).wait_for()
                if i:
                    times.append((time.perf_counter() - t) * 1000)
                page.context.close()
            browser.close()
            row(f"{mode} (derive + verifier round trip + open 3 replies, in the page)", times)


def _flood_process(port: int, path: str, fields: dict | None, seconds: float, out) -> None:
    """One flooding client, in a process of its own so the bench's own threads never slow it (nor it them)."""
    me = Server(Path("."), Path("."), Path("."), port)
    tok = token(me, path if fields is not None else "/")
    counts: dict[int, int] = {}
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        if fields is None:
            status = me.request("GET", path).status
        else:
            status = me.post_urlencoded(path, {"csrf_token": tok, **fields}).status
        counts[status] = counts.get(status, 0) + 1
    out.put(counts)


def hammer(srv: Server, typed: str | None, clients: int, seconds: float) -> Callable[[], dict[int, int]]:
    """Start `clients` processes sending codename logins (or, with typed=None, GET /) without pause.

    Returns a function that waits for them and gives the counts of each status.
    """
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    fields = None if typed is None else {"codename": typed}
    path = "/" if typed is None else "/conversation"
    procs = [
        ctx.Process(target=_flood_process, args=(srv.port, path, fields, seconds, out))
        for _ in range(clients)
    ]
    for p in procs:
        p.start()

    def wait() -> dict[int, int]:
        total: dict[int, int] = {}
        for _ in procs:
            for status, n in out.get().items():
                total[status] = total.get(status, 0) + n
        for p in procs:
            p.join()
        return total

    return wait


def memory(srv: Server, typed: str, seconds: float) -> None:
    idle = rss_mib(srv)
    peak = [idle]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak.append(rss_mib(srv))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    counts = hammer(srv, typed, 8, seconds)()
    done.set()
    sampler.join()
    print("\n## 2. Server memory (RSS of master + workers)\n")
    print("| state | MiB |\n| --- | --- |")
    print(f"| idle | {idle:.1f} |")
    print(f"| peak under 8 concurrent logins for {seconds:.0f} s ({_counts(counts)}) | {max(peak):.1f} |")


def _counts(counts: dict[int, int]) -> str:
    return ", ".join(f"{n}× {s}" for s, n in sorted(counts.items()))


def form_under_flood(srv: Server, typed: str, n: int, seconds: float, clients: int) -> None:
    def tips() -> list[float]:
        me = Server(srv.data_dir, srv.tmp_dir, srv.log_path, srv.port)
        out = []
        for _ in range(n):
            tok = token(me)
            t = time.perf_counter()
            r = me.post_form([("csrf_token", tok), ("message", "a tip while logins flood in")])
            out.append((time.perf_counter() - t) * 1000)
            if r.status != 200:
                raise SystemExit(f"a tip was refused during the flood: {r.status}")
        return out

    def during(what: str | None) -> tuple[list[float], dict[int, int]]:
        wait = hammer(srv, what, clients, seconds)
        time.sleep(1.5)  # the clients are spawned and flooding
        ms = tips()
        return ms, wait()

    alone = tips()
    logins, login_counts = during(typed)
    pages, page_counts = during(None)
    print(f"\n## 3. The form under a flood (no-JavaScript first tip, ms; {clients} flooding clients)\n")
    print("| when | tips | p50 | p99 |\n| --- | --- | --- | --- |")
    row("alone", alone)
    row(f"during a flood of codename logins ({_counts(login_counts)})", logins)
    row(f"during a flood of plain page loads, for comparison ({_counts(page_counts)})", pages)
    print(
        f"\np99 ratio, login flood / alone: {pct(logins, 99) / pct(alone, 99):.2f}x;"
        f" page-load flood / alone: {pct(pages, 99) / pct(alone, 99):.2f}x"
    )


def seal_and_open(runs: int) -> None:
    source = SecretKey.generate()
    journalists = [SecretKey.generate().public_key for _ in range(31)]
    print("\n## 4. Reply seal and open, Python (ms, median)\n")
    print("| reply | recipients | seal | open (source) | envelope bytes |\n| --- | --- | --- | --- | --- |")
    for size in (1024, 65536):
        for count in (1, 31):
            keys = [source.public_key, *journalists[:count]]
            seal, opened, length = _seal_open(b"x" * size, keys, source, runs)
            print(f"| {size // 1024} KiB | 1 + {count} | {seal:.2f} | {opened:.2f} | {length:,} |")


def _seal_open(text: bytes, keys: list[PublicKey], me: SecretKey, runs: int) -> tuple[float, float, int]:
    meta = Metadata("message", "", "text/plain; charset=utf-8")
    env = seal_bytes(text, meta, keys)
    seal = [timed(lambda: seal_bytes(text, meta, keys)) for _ in range(runs)]
    opened = [timed(lambda: decrypt_bytes(env, [me])) for _ in range(runs)]
    return statistics.median(seal), statistics.median(opened), len(env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--logins", type=int, default=40)
    ap.add_argument("--browser-runs", type=int, default=5)
    ap.add_argument("--flood-s", type=float, default=6.0)
    ap.add_argument("--clients", type=int, default=8, help="flooding client processes")
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        keys = base / "keys"
        keys.mkdir()
        (keys / "pass.txt").write_text(PASSPHRASE + "\n")
        run_offline("keygen", "--out", str(keys), "--passphrase-file", str(keys / "pass.txt"), check=True)
        srv = make_server(base / "site", keys / "journalist.pub")
        (base / "site").mkdir(exist_ok=True)
        srv.start()
        try:
            typed = first_tip(srv, "the ledger is in the basement")
            for text in REPLIES:
                add_reply(srv, keys, typed, text)
            wrong = codename.new_codename()
            print(f"# bench/conversation.py — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
            server_logins(srv, typed, wrong, args.logins)
            if not args.no_browser:
                browser_logins(srv, typed, args.browser_runs)
            memory(srv, typed, args.flood_s)
            form_under_flood(srv, typed, args.logins, args.flood_s, args.clients)
            seal_and_open(20)
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
