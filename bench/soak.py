"""Soak a real `tipline serve` (gunicorn) on loopback: a steady mixed load for minutes, watched over time.

Why this exists: bench/load.py measures short bursts of one kind of request
each; it cannot show what only time reveals: a worker whose memory creeps up
request after request (a leaked buffer, a growing cache, allocator
fragmentation after many 5 MiB bodies), latency that drifts as the store and
the SQLite file grow, a worker that dies and is quietly restarted by the
gunicorn master, temporary files or pending folders left behind, or DB rows
that stop matching the replies. A tip line runs for months on one modest
machine, so this script holds a realistic mix at a fixed rate and prints one
row per interval. It is run by hand, never by the test suite:

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 8] [--concurrency 8]
                                   [--mix 60,20,15,5] [--report-every 30]
                                   [--max-data-mb 4000] [--markdown]

What it does (the server, the clients and the success checks are
bench/load.py's, imported, not copied):

* A temporary folder (removed at the end), a journalist key whose secret half
  is never written, and `tipline serve --bind 127.0.0.1:PORT` with default
  settings. Loopback only.
* The mix (--mix, percentages in this order, default 60,20,15,5):
  (a) 1 KiB message sealed by the server (the no-JS form);
  (b) 1 KiB message sealed in the browser (posted with ?sealed=browser);
  (c) one 1 MiB attachment sealed by the server;
  (d) one 5 MiB attachment sealed in the browser.
  Each request's kind is drawn at random (seeded, --seed) with those weights.
* Pacing is open-loop and bounded: a scheduler thread issues ticket i at
  t0 + i/rate (no faster, whatever the server does) into a queue of at most
  --concurrency tickets, and --concurrency client threads take tickets. When
  every client is busy and the queue is full, a tick is skipped and counted
  ("skip"), so an overloaded server shows as skips and latency, never as an
  ever-growing backlog. Each client visits / once for its CSRF cookie and
  token and pre-builds one body per kind (browser-side sealing done here,
  untimed); every request is a new connection with `Connection: close`.
* Latency is wall time from connect to the last reply byte (time a ticket
  waited in the queue is not included; skips show saturation instead);
  p50/p99 are nearest-rank. MiB/s counts payload (plaintext) bytes of ok
  requests. A request is ok only on load.py's exact success reply.
* Memory: every 0.5 s (--sample-every) the workers (children of the master,
  `pgrep -P`) are listed and their VmRSS read from /proc. A row shows the
  largest single worker's VmRSS seen in the interval, the total over workers
  and the number of workers at the last sample; a pid never seen before is a
  restarted worker, flagged as "+N!" (restarts so far). The summary gives the total's start and end
  and its slope in MiB/hour by least squares, over all samples and over the
  samples after the first interval (the first minutes hold allocator warm-up,
  which is not a leak).
* Each row also counts the rows in DATA/tipline.sqlite3 and the data folder's
  size on disk (allocated blocks). Stored tips are not purged during the run
  (`tipline purge` works in days, the store keeps only the hour), so instead
  the run stops early, with a message, once the data folder exceeds
  --max-data-mb (at the default 8 req/s and mix, about 3.8 MiB/s reach the
  disk, so a default 10-minute run writes about 2300 MB, under the default
  cap of 4000 MB). At
  the end the row count must equal the number of ok requests, else the exit
  code is 1, as it is when nothing succeeded or the server died. A stop at
  the data cap is reported, and is not in itself a failure.

Caveat: client and server share this machine's cores (2 on the reference
VM), and the same two browser-sealed envelopes per client are sent again and
again (the server stores each as a new tip; it does not look inside).
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # bench/load.py, found through the line above

from tipline.format.keys import PublicKey, SecretKey

KIB, MIB = load.KIB, load.MIB

SCENARIOS = (
    load.Scenario("a", "1 KiB msg, server-sealed", "server", "message", KIB, 0),
    load.Scenario("b", "1 KiB msg, browser-sealed", "browser", "message", KIB, 0),
    load.Scenario("c", "1 MiB file, server-sealed", "server", "file", MIB, 0),
    load.Scenario("d", "5 MiB file, browser-sealed", "browser", "file", 5 * MIB, 0),
)


# -- what is measured --------------------------------------------------------------------------


@dataclass
class Window:
    """Outcomes of the requests that finished in one interval (or in the whole run)."""

    ok: int = 0
    failed: int = 0
    skipped: int = 0
    payload_bytes: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    kinds_ok: Counter[str] = field(default_factory=Counter)

    def add(self, other: Window) -> None:
        self.ok += other.ok
        self.failed += other.failed
        self.skipped += other.skipped
        self.payload_bytes += other.payload_bytes
        self.latencies_ms += other.latencies_ms
        self.errors += other.errors
        self.kinds_ok += other.kinds_ok


class Tally:
    """Thread-safe: clients and the scheduler record here; the reporter swaps the window out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = Window()
        self.examples: dict[str, str] = {}  # one reply body per error kind, for the summary

    def ok(self, scn: load.Scenario, latency_ms: float) -> None:
        with self._lock:
            self._window.ok += 1
            self._window.payload_bytes += scn.payload_bytes
            self._window.latencies_ms.append(latency_ms)
            self._window.kinds_ok[scn.key] += 1

    def failed(self, error: str, example: str) -> None:
        with self._lock:
            self._window.failed += 1
            self._window.errors[error] += 1
            self.examples.setdefault(error, example)

    def skipped(self) -> None:
        with self._lock:
            self._window.skipped += 1

    def take(self) -> Window:
        with self._lock:
            w, self._window = self._window, Window()
            return w


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the load started
    rss_kb: dict[int, int]  # worker pid -> VmRSS

    @property
    def total_kb(self) -> int:
        return sum(self.rss_kb.values())


class MemoryWatch:
    """Every `every_s` seconds: list the workers and read their VmRSS. Keeps every sample."""

    def __init__(self, server: load.Server, every_s: float, t0: float) -> None:
        self.server = server
        self.every_s = every_s
        self.t0 = t0
        self.samples: list[Sample] = []
        self.first_pids: set[int] = set(server.workers())
        self.pids_seen: set[int] = set(self.first_pids)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-watch", daemon=True)

    def sample(self) -> Sample:
        rss: dict[int, int] = {}
        for pid in self.server.workers():
            kb = load.proc_status_kb(pid, "VmRSS")
            if kb is not None:  # None: it exited between pgrep and the read
                rss[pid] = kb
        s = Sample(time.monotonic() - self.t0, rss)
        with self._lock:
            self.samples.append(s)
            self.pids_seen |= rss.keys()
        return s

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sample()

    def since(self, t: float) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if s.t >= t]

    def new_pids(self) -> set[int]:
        with self._lock:
            return self.pids_seen - self.first_pids

    def __enter__(self) -> MemoryWatch:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def slope_mib_per_hour(samples: Sequence[Sample]) -> float:
    """Least-squares slope of the workers' total VmRSS against time, in MiB per hour."""
    if len(samples) < 2:
        return float("nan")
    xs = [s.t for s in samples]
    ys = [s.total_kb / 1024 for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return float("nan")
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx * 3600


def disk_usage_bytes(root: Path) -> int:
    """Allocated size of everything under root (st_blocks, like `du`), ignoring files that vanish."""
    total = 0
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            total += st.st_blocks * 512
            if e.is_dir(follow_symlinks=False):
                stack.append(Path(e.path))
    return total


def count_files(root: Path) -> int:
    return sum(len(files) for _dir, _subdirs, files in os.walk(root))


# -- the load ----------------------------------------------------------------------------------


class Load:
    """The scheduler (fixed rate, bounded queue) and the client threads."""

    def __init__(
        self,
        server: load.Server,
        recipients: Sequence[PublicKey],
        rate: float,
        concurrency: int,
        weights: Sequence[float],
        seed: int,
        tally: Tally,
    ) -> None:
        self.server = server
        self.rate = rate
        self.weights = list(weights)
        self.rng = random.Random(seed)
        self.tally = tally
        self.tickets: queue.Queue[load.Scenario | None] = queue.Queue(maxsize=concurrency)
        self.stopping = threading.Event()
        payloads = {
            "a": os.urandom(KIB // 2).hex().encode(),  # 1 KiB of text
            "b": os.urandom(KIB // 2).hex().encode(),
            "c": os.urandom(MIB),
            "d": os.urandom(5 * MIB),
        }
        # Untimed: each client visits the page once and builds one body per kind it may send.
        self.prepared: list[dict[str, load.PreparedRequest]] = []
        for _ in range(concurrency):
            cookie, token = load.fetch_csrf(server)
            self.prepared.append(
                {
                    s.key: load.prepare(s, cookie, token, payloads[s.key], recipients)
                    for s, w in zip(SCENARIOS, self.weights, strict=True)
                    if w > 0
                }
            )
        self.clients = [
            threading.Thread(target=self._client, args=(p,), name=f"client-{i}", daemon=True)
            for i, p in enumerate(self.prepared)
        ]
        self.scheduler = threading.Thread(target=self._schedule, name="scheduler", daemon=True)
        self.t0 = 0.0

    def start(self, t0: float) -> None:
        self.t0 = t0
        for t in self.clients:
            t.start()
        self.scheduler.start()

    def _schedule(self) -> None:
        i = 0
        while True:
            due = self.t0 + i / self.rate
            if self.stopping.wait(max(0.0, due - time.monotonic())):
                return
            scn = self.rng.choices(SCENARIOS, self.weights)[0]
            try:
                self.tickets.put_nowait(scn)
            except queue.Full:  # every client busy and the queue full: the server is not keeping up
                self.tally.skipped()
            i += 1

    def _client(self, prepared: dict[str, load.PreparedRequest]) -> None:
        while (scn := self.tickets.get()) is not None:
            req = prepared[scn.key]
            t0 = time.perf_counter()
            try:
                headers = load.fresh(req.headers)
                status, headers, body = self.server.request("POST", req.path, req.body, headers)
            except (OSError, http.client.HTTPException) as e:
                self.tally.failed(type(e).__name__, str(e)[:120])
                continue
            if load.succeeded(scn, status, headers, body):
                self.tally.ok(scn, (time.perf_counter() - t0) * 1000)
            else:
                self.tally.failed(f"HTTP {status}", repr(body[:120]))

    def stop(self) -> None:
        """No new tickets; drop those still queued; let requests in flight finish."""
        self.stopping.set()
        self.scheduler.join()
        while True:
            try:
                self.tickets.get_nowait()
            except queue.Empty:
                break
        for _ in self.clients:
            self.tickets.put(None)
        for t in self.clients:
            t.join()


# -- the report --------------------------------------------------------------------------------

COLUMNS = [
    ("elapsed", 7),
    ("ok", 5),
    ("fail", 4),
    ("skip", 4),
    ("req/s", 5),
    ("MiB/s", 5),
    ("p50 ms", 6),
    ("p99 ms", 6),
    ("max wkr RSS MiB", 15),
    ("total RSS MiB", 13),
    ("workers", 7),
    ("DB rows", 7),
    ("data MiB", 8),
]


def fmt_elapsed(s: float) -> str:
    return f"{int(s) // 60}:{int(s) % 60:02d}"


def interval_row(
    elapsed: float,
    span: float,
    w: Window,
    samples: Sequence[Sample],
    new_pids: int,
    db_rows: int,
    data_bytes: int,
) -> list[str]:
    max_worker = max((kb for s in samples for kb in s.rss_kb.values()), default=0)
    last = samples[-1] if samples else Sample(elapsed, {})
    workers = str(len(last.rss_kb)) + (f" +{new_pids}!" if new_pids else "")
    return [
        fmt_elapsed(elapsed),
        str(w.ok),
        str(w.failed),
        str(w.skipped),
        f"{w.ok / span:.2f}" if span else "-",
        f"{w.payload_bytes / MIB / span:.2f}" if span else "-",
        f"{load.percentile(w.latencies_ms, 50):.0f}",
        f"{load.percentile(w.latencies_ms, 99):.0f}",
        f"{max_worker / 1024:.1f}",
        f"{last.total_kb / 1024:.1f}",
        workers,
        str(db_rows),
        f"{data_bytes / MIB:,.0f}",
    ]


def text_line(cells: Sequence[str]) -> str:
    return "  ".join(c.rjust(w) for c, (_name, w) in zip(cells, COLUMNS, strict=True))


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    out = [
        "| " + " | ".join(name for name, _w in COLUMNS) + " |",
        "|" + "|".join(["--:"] * len(COLUMNS)) + "|",
    ]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


# -- main --------------------------------------------------------------------------------------


def parse_mix(text: str) -> list[float]:
    try:
        weights = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not numbers: {text!r}") from None
    if len(weights) != len(SCENARIOS) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise argparse.ArgumentTypeError("four non-negative weights, not all zero, e.g. 60,20,15,5")
    return weights


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    p.add_argument("--minutes", type=float, default=10.0, help="how long the load runs (10)")
    p.add_argument("--rate", type=float, default=8.0, help="requests per second, all kinds together (8)")
    p.add_argument("--concurrency", type=int, default=8, help="client threads, and the ticket queue (8)")
    p.add_argument(
        "--mix",
        type=parse_mix,
        default=parse_mix("60,20,15,5"),
        help="percent of (a) 1 KiB server-sealed, (b) 1 KiB browser-sealed, (c) 1 MiB server-sealed file, "
        "(d) 5 MiB browser-sealed file (60,20,15,5)",
    )
    p.add_argument("--report-every", type=float, default=30.0, help="seconds per row (30)")
    p.add_argument("--sample-every", type=float, default=0.5, help="VmRSS sampling period, s (0.5)")
    p.add_argument(
        "--max-data-mb", type=float, default=4000.0, help="stop once the data folder is larger (4000)"
    )
    p.add_argument("--seed", type=int, default=1, help="seed for the choice of kinds (1)")
    p.add_argument("--dir", type=Path, help="where to make the temporary folder (default $TMPDIR)")
    p.add_argument("--markdown", action="store_true", help="also print the rows as a Markdown table")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.concurrency < 1 or args.rate <= 0 or args.minutes <= 0 or args.report_every <= 0:
        raise SystemExit("--concurrency must be at least 1; --rate, --minutes, --report-every above 0")
    mix_total = sum(args.mix)
    expected = sum(w / mix_total * s.payload_bytes for w, s in zip(args.mix, SCENARIOS, strict=True))
    print(
        f"soak: {args.minutes:g} min at {args.rate:g} req/s, {args.concurrency} clients, mix "
        + ", ".join(f"{s.key} {w / mix_total:.0%}" for w, s in zip(args.mix, SCENARIOS, strict=True))
        + f" (~{expected * args.rate / MIB:.2f} MiB/s offered)",
        file=sys.stderr,
    )

    base = Path(tempfile.mkdtemp(prefix="tipline-soak-", dir=args.dir))
    server = load.Server(base)
    tally = Tally()
    total = Window()
    rows: list[list[str]] = []
    stop_reason = ""
    failures: list[str] = []
    try:
        recipients = [SecretKey.generate().public_key]  # the secret half is never written
        server.add_key(recipients[0])
        server.start()
        print(
            f"tipline serve on 127.0.0.1:{server.port}, workers {server.workers()}; data in {base}",
            file=sys.stderr,
        )
        print("building request bodies...", file=sys.stderr)
        soak = Load(server, recipients, args.rate, args.concurrency, args.mix, args.seed, tally)
        rows_before = server.submission_count()
        print(text_line([name for name, _w in COLUMNS]), flush=True)
        print(text_line(["-" * w for _name, w in COLUMNS]), flush=True)

        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        with MemoryWatch(server, args.sample_every, t0) as mem:
            soak.start(t0)
            last_report = t0
            data_bytes = 0
            try:
                while not stop_reason:
                    now = time.monotonic()
                    next_report = min(last_report + args.report_every, end)
                    time.sleep(max(0.0, min(next_report, now + 5.0) - now))  # wake at least every 5 s
                    assert server.proc is not None
                    if server.proc.poll() is not None:
                        stop_reason = f"tipline serve exited with code {server.proc.returncode}"
                    now = time.monotonic()
                    if now >= next_report or stop_reason:
                        data_bytes = disk_usage_bytes(server.data_dir)
                        if data_bytes > args.max_data_mb * MIB and not stop_reason:
                            stop_reason = (
                                f"data cap: data folder {data_bytes / MIB:,.0f} MiB > --max-data-mb "
                                f"{args.max_data_mb:g}"
                            )
                        if now >= end and not stop_reason:
                            stop_reason = "done"
                        if stop_reason:
                            soak.stop()  # requests in flight finish and count in this last row
                            now = time.monotonic()
                            data_bytes = disk_usage_bytes(server.data_dir)
                        w = tally.take()
                        total.add(w)
                        db_rows = server.submission_count() - rows_before  # the file, not the server
                        cells = interval_row(
                            now - t0,
                            now - last_report,
                            w,
                            mem.since(last_report - t0),
                            len(mem.new_pids()),
                            db_rows,
                            data_bytes,
                        )
                        rows.append(cells)
                        print(text_line(cells), flush=True)
                        last_report = now
            except KeyboardInterrupt:
                stop_reason = "interrupted (Ctrl-C)"
                soak.stop()
                total.add(tally.take())
        elapsed = time.monotonic() - t0
        samples = mem.samples
        new_pids = sorted(mem.new_pids())
        alive = server.proc is not None and server.proc.poll() is None
        db_final = server.submission_count() - rows_before
        workers = server.workers() if alive else []
        final_hwm = max(((load.proc_status_kb(p, "VmHWM") or 0) for p in workers), default=0)
        pending = server.pending_count()
        tmp_left = count_files(server.tmp_dir)
        log = server.log_path.read_text(errors="replace").splitlines()
        boots = sum("Booting worker" in line for line in log)
        problems = [line for line in log if re.search(r"ERROR|CRITICAL|TIMEOUT|Traceback", line)]
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)

    # -- the summary
    def mib(kb: int) -> str:
        return f"{kb / 1024:.1f}"

    first, last = samples[0], samples[-1]
    warm = [s for s in samples if s.t >= min(args.report_every, elapsed / 2)]
    print()
    print(f"Stopped: {stop_reason} after {fmt_elapsed(elapsed)} ({elapsed:.0f} s).")
    print(
        f"Requests: {total.ok} ok, {total.failed} failed, {total.skipped} skipped "
        f"(offered {args.rate:g}/s); ok by kind: "
        + ", ".join(f"{s.key} {total.kinds_ok[s.key]}" for s in SCENARIOS)
    )
    print(
        f"Throughput: {total.ok / elapsed:.2f} req/s, {total.payload_bytes / MIB / elapsed:.2f} MiB/s; "
        f"latency p50 {load.percentile(total.latencies_ms, 50):.0f} ms, "
        f"p99 {load.percentile(total.latencies_ms, 99):.0f} ms, "
        f"max {max(total.latencies_ms, default=float('nan')):.0f} ms"
    )
    print(
        f"Worker VmRSS total: {mib(first.total_kb)} MiB at start (idle) -> {mib(last.total_kb)} MiB at end; "
        f"largest worker sample {mib(max((kb for s in samples for kb in s.rss_kb.values()), default=0))} MiB;"
        f" VmHWM at end {mib(final_hwm)} MiB"
    )
    print(
        f"Memory slope (least squares, total VmRSS, {len(samples)} samples): "
        f"{slope_mib_per_hour(samples):+.1f} MiB/hour over all; "
        f"{slope_mib_per_hour(warm):+.1f} MiB/hour from {fmt_elapsed(warm[0].t) if warm else '-'} on"
    )
    print(
        f"Workers: {len(first.rss_kb)} at start, {len(last.rss_kb)} at end; "
        f"restarted (new pids): {new_pids or 'none'}; 'Booting worker' in the log: {boots}"
    )
    print(f"Left behind: {pending} pending folders, {tmp_left} files in the server's TMPDIR")
    if total.errors:
        print("Failures by status:")
        for err, n in total.errors.most_common():
            print(f"    {n} x {err}  e.g. {tally.examples.get(err, '')}")
    for line in problems[:10]:
        print(f"server log: {line}")
    if args.markdown:
        print()
        print(markdown_table(rows))

    if stop_reason.startswith("tipline serve exited"):
        failures.append(stop_reason)
    if total.ok == 0:
        failures.append("no request succeeded")
    if db_final != total.ok:
        failures.append(f"DB rows {db_final} != ok requests {total.ok}")
    print(
        f"DB rows: {db_final}, ok requests: {total.ok}: " + ("match" if db_final == total.ok else "MISMATCH")
    )
    if failures:
        print("FAIL: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
