"""Load-test a real `tipline serve` (gunicorn) on loopback: throughput, latency and worker memory.

Why this exists: the unit and HTTP tests show that one submission is received
correctly; they say nothing about how many a modest machine takes per second,
how long a source waits when others submit at the same time, or whether a
worker's memory stays flat when many uploads stream through it at once.
Intake is deliberately not cheap (every envelope and folder is fsynced, the
SQLite commit is synchronous=FULL, and server-side sealing runs in Python
under the GIL of 2 gthread workers), so this script puts numbers on it. It is
run by hand, never by the test suite:

    .venv/bin/python bench/load.py [--requests 200] [--requests-large 40]
                                   [--concurrency 8] [--time-cap 120] [--markdown]

What it does:

* Makes a temporary folder (removed at the end), a journalist key pair
  (SecretKey.generate(); only the public half is written, then added with
  `tipline keys add`), and starts `tipline serve --bind 127.0.0.1:PORT` with
  default settings (2 gthread workers, 8 threads each). Loopback only.
* Four scenarios, in this order:
  (a) 1 KiB message sealed by the server: the no-JS form as a browser posts
      it (csrf_token, message, an empty file field);
  (b) one 5 MiB attachment sealed by the server (message left empty);
  (c) 1 KiB message sealed in advance as the browser does (seal_bytes), posted
      to /submit?sealed=browser with Accept: application/json;
  (d) one 5 MiB attachment sealed in advance likewise.
  Payloads are os.urandom bytes (incompressible, like real files); the
  message is random hex text.
* Clients are C threads (--concurrency). Each thread GETs / once, keeps its
  own tipline_csrf cookie and csrf_token, and pre-builds its request body
  before the clock starts (browser-side sealing is done here, untimed), so
  the client costs little beyond sending bytes. Each request uses a NEW
  http.client connection with `Connection: close` (as a Tor client opens a
  stream per submission; it also avoids keep-alive races with gunicorn's 5 s
  keepalive). Threads share one request budget; after --time-cap seconds no
  new request starts (those are reported as "not run").
* A request counts as ok only on the exact success reply: 200 with the codename page for
  the form, 200 with {"ok": true} for the browser path. After each scenario
  the rows in DATA/tipline.sqlite3 (table submissions) are counted and must
  have grown by exactly the number of ok requests; a mismatch is reported and
  makes the exit code 1, so a benchmark of failures cannot pass for a result.
* Memory: VmHWM (peak RSS since the process started) of each gunicorn worker
  (children of the master, found with `pgrep -P`), max over workers, read at
  the end of each scenario. Because VmHWM only ever grows, a background thread
  also samples VmRSS of every worker every --sample-interval seconds during
  the scenario, and the largest sample is reported for that scenario alone.
* Latency is wall time from connect to the last byte of the reply, per
  request; p50/p99 are nearest-rank (with 40 requests, p99 is the maximum).
  MB/s counts payload (plaintext) bytes of ok requests, in MiB (2^20).

Caveat: client and server share this machine's cores (2 on the reference
VM), so the numbers are a floor for the server alone; the client's share is
kept small by pre-built bodies, but 8 Python threads writing 5 MiB bodies are
not free.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for the tests' multipart builder

from tests.web.server import first_tip_headers, multipart
from tipline.format.keys import PublicKey, SecretKey
from tipline.format.payload import Metadata
from tipline.format.stream import seal_bytes

KIB = 1024
MIB = 1024 * 1024
CSRF_COOKIE = "tipline_csrf"
TOKEN_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
REQUEST_TIMEOUT_S = 300.0

Sealing = Literal["server", "browser"]
Kind = Literal["message", "file"]


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    sealed_by: Sealing
    kind: Kind
    payload_bytes: int
    requests: int


@dataclass
class Result:
    scenario: Scenario
    ok: int = 0
    failed: int = 0
    not_run: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    body_bytes: int = 0
    hwm_kb: int = 0
    rss_max_kb: int = 0
    rss_start_kb: int = 0
    rss_end_kb: int = 0
    db_delta: int = 0
    workers_seen: set[int] = field(default_factory=set)

    @property
    def db_matches(self) -> bool:
        return self.db_delta == self.ok

    def per_s(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s else 0.0

    def mib_per_s(self) -> float:
        return self.ok * self.scenario.payload_bytes / MIB / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (ceil(n*q/100)-th smallest); nan when there are no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # nearest rank, ceil(n*q/100)
    return ordered[int(rank) - 1]


# -- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `tipline serve` subprocess on 127.0.0.1; its pid is the gunicorn master's."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.data_dir = base / "data"
        self.tmp_dir = base / "tmp"
        self.log_path = base / "server.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.tmp_dir.mkdir(parents=True)

    def _cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "tipline.cli", *args]

    def add_key(self, pub: PublicKey) -> None:
        pubfile = self.base / "journalist.pub"
        pubfile.write_text(pub.to_text())
        subprocess.run(
            self._cli("keys", "add", "--data-dir", str(self.data_dir), str(pubfile)),
            check=True,
            capture_output=True,
        )

    def start(self, timeout_s: float = 30.0) -> None:
        env = dict(os.environ, TMPDIR=str(self.tmp_dir), TEMP=str(self.tmp_dir), TMP=str(self.tmp_dir))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self._cli("serve", "--data-dir", str(self.data_dir), "--bind", f"127.0.0.1:{self.port}"),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C here does not reach it; stop() ends it
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tipline serve exited early:\n{self.log_tail()}")
            try:
                status, _headers, _body = self.request("GET", "/", timeout=2.0)
                if status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"tipline serve did not answer in {timeout_s:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # SIGTERM: gunicorn's graceful stop
        try:
            self.proc.wait(40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the session started above: master and workers
            self.proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = REQUEST_TIMEOUT_S,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
            r = conn.getresponse()
            return r.status, r.headers, r.read()
        finally:
            conn.close()

    def workers(self) -> list[int]:
        assert self.proc is not None
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def submission_count(self) -> int:
        con = sqlite3.connect(self.data_dir / "tipline.sqlite3")
        try:
            return con.execute("select count(*) from submissions").fetchone()[0]
        finally:
            con.close()

    def pending_count(self) -> int:
        pending = self.data_dir / "store" / "pending"
        return sum(1 for _ in pending.iterdir()) if pending.exists() else 0


def proc_status_kb(pid: int, field_name: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


class RssSampler:
    """Samples VmRSS of every worker in the background; remembers the largest value."""

    def __init__(self, server: Server, interval_s: float) -> None:
        self.server = server
        self.interval_s = interval_s
        self.max_kb = 0
        self.pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        workers = self.server.workers()
        while True:
            lost = False
            for pid in workers:
                rss = proc_status_kb(pid, "VmRSS")
                if rss is None:
                    lost = True
                    continue
                self.pids.add(pid)
                self.max_kb = max(self.max_kb, rss)
            if lost:  # a worker was restarted: look again
                workers = self.server.workers()
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- the clients -------------------------------------------------------------------------------


@dataclass
class PreparedRequest:
    path: str
    body: bytes
    headers: dict[str, str]


def fetch_csrf(server: Server) -> tuple[str, str]:
    """GET / as a new visitor: the tipline_csrf cookie and the form's csrf_token."""
    status, headers, body = server.request("GET", "/")
    if status != 200:
        raise RuntimeError(f"GET / answered {status}")
    cookie = ""
    for value in headers.get_all("Set-Cookie") or []:
        name, _, rest = value.partition("=")
        if name.strip() == CSRF_COOKIE:
            cookie = rest.split(";", 1)[0]
    m = TOKEN_RE.search(body.decode("utf-8", "replace"))
    if not cookie or not m:
        raise RuntimeError("GET / gave no CSRF cookie or token")
    return cookie, m.group(1)


def prepare(
    scn: Scenario, cookie: str, token: str, payload: bytes, recipients: Sequence[PublicKey]
) -> PreparedRequest:
    """The request body a browser would send for this scenario, sealed here if the browser seals."""
    headers = {"Cookie": f"{CSRF_COOKIE}={cookie}"}
    if scn.sealed_by == "server":
        if scn.kind == "message":
            fields = [("csrf_token", token), ("message", payload.decode())]
            files = [("files", "", b"", "application/octet-stream")]  # the file input, left empty
        else:
            fields = [("csrf_token", token), ("message", "")]
            files = [("files", "evidence.bin", payload, "application/octet-stream")]
        body, ctype = multipart(fields, files)
        return PreparedRequest("/submit", body, {**headers, "Content-Type": ctype})
    if scn.kind == "message":
        meta = Metadata("message", "", "text/plain; charset=utf-8")
    else:
        meta = Metadata("file", "evidence.bin", "application/octet-stream")
    envelope = seal_bytes(payload, meta, recipients)
    body, ctype = multipart(
        [("csrf_token", token)], [("envelope", "0.envelope", envelope, "application/octet-stream")]
    )
    return PreparedRequest(
        "/submit?sealed=browser", body, {**headers, "Content-Type": ctype, "Accept": "application/json"}
    )


def fresh(headers: dict) -> dict:
    """Each browser tip opens its own conversation, so each needs a verifier of its own."""
    return {**headers, **first_tip_headers()} if "Accept" in headers else headers


def succeeded(scn: Scenario, status: int, headers: http.client.HTTPMessage, body: bytes) -> bool:
    if scn.sealed_by == "server":
        return status == 200 and b'id="codename"' in body
    if status != 200:
        return False
    try:
        return json.loads(body).get("ok") is True
    except (ValueError, AttributeError):
        return False


def run_scenario(
    server: Server,
    scn: Scenario,
    payload: bytes,
    recipients: Sequence[PublicKey],
    concurrency: int,
    time_cap_s: float,
    sample_interval_s: float,
) -> Result:
    result = Result(scn)
    # Untimed: each client visits the page once and builds its body.
    prepared: list[PreparedRequest] = []
    for _ in range(concurrency):
        cookie, token = fetch_csrf(server)
        prepared.append(prepare(scn, cookie, token, payload, recipients))
    result.body_bytes = len(prepared[0].body)

    lock = threading.Lock()
    budget = [scn.requests]
    start_gate = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def take() -> bool:
        with lock:
            if budget[0] <= 0 or time.monotonic() >= deadline[0]:
                return False
            budget[0] -= 1
            return True

    def record(ok: bool, latency_ms: float, error: str | None) -> None:
        with lock:
            if ok:
                result.ok += 1
                result.latencies_ms.append(latency_ms)
            else:
                result.failed += 1
                result.errors[error or "?"] += 1

    def client(req: PreparedRequest) -> None:
        start_gate.wait()
        while take():
            t0 = time.perf_counter()
            try:
                status, headers, body = server.request("POST", req.path, req.body, fresh(req.headers))
                ok = succeeded(scn, status, headers, body)
                error = None if ok else f"HTTP {status}: {body[:120]!r}"
            except (OSError, http.client.HTTPException) as e:
                ok, error = False, type(e).__name__
            record(ok, (time.perf_counter() - t0) * 1000, error)

    before = server.submission_count()
    result.rss_start_kb = max((proc_status_kb(p, "VmRSS") or 0) for p in server.workers())
    threads = [
        threading.Thread(target=client, args=(req,), name=f"client-{i}") for i, req in enumerate(prepared)
    ]
    for t in threads:
        t.start()
    with RssSampler(server, sample_interval_s) as sampler:
        t0 = time.perf_counter()
        deadline[0] = time.monotonic() + time_cap_s
        start_gate.wait()
        for t in threads:
            t.join()
        result.elapsed_s = time.perf_counter() - t0
    result.not_run = budget[0]
    result.rss_max_kb = sampler.max_kb
    result.workers_seen = sampler.pids
    workers = server.workers()
    result.hwm_kb = max((proc_status_kb(p, "VmHWM") or 0) for p in workers)
    result.rss_end_kb = max((proc_status_kb(p, "VmRSS") or 0) for p in workers)
    result.workers_seen |= set(workers)
    result.db_delta = server.submission_count() - before
    return result


# -- the report --------------------------------------------------------------------------------

COLUMNS = [
    "scenario",
    "ok",
    "failed",
    "not run",
    "body KiB",
    "subm/s",
    "MiB/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "worker VmHWM MiB",
    "max VmRSS MiB",
    "DB rows",
]


def row(r: Result) -> list[str]:
    mb = 1024.0
    return [
        f"({r.scenario.key}) {r.scenario.label}",
        str(r.ok),
        str(r.failed),
        str(r.not_run),
        f"{r.body_bytes / KIB:,.1f}",
        f"{r.per_s():.1f}",
        f"{r.mib_per_s():.2f}",
        f"{r.percentile(50):.0f}",
        f"{r.percentile(99):.0f}",
        f"{max(r.latencies_ms, default=float('nan')):.0f}",
        f"{r.hwm_kb / mb:.1f}",
        f"{r.rss_max_kb / mb:.1f}",
        f"+{r.db_delta}" + ("" if r.db_matches else " MISMATCH"),
    ]


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(COLUMNS), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def markdown_table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] + ["--:"] * (len(COLUMNS) - 1)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


# -- main --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--requests", type=int, default=200, help="requests per 1 KiB scenario (200)")
    p.add_argument("--requests-large", type=int, default=40, help="requests per 5 MiB scenario (40)")
    p.add_argument("--concurrency", type=int, default=8, help="client threads (8)")
    p.add_argument("--time-cap", type=float, default=120.0, help="seconds before a scenario stops (120)")
    p.add_argument("--large-mib", type=int, default=5, help="attachment size in MiB (5)")
    p.add_argument("--sample-interval", type=float, default=0.05, help="VmRSS sampling period, s (0.05)")
    p.add_argument("--only", default="abcd", help="scenarios to run, e.g. 'ac' (all)")
    p.add_argument("--dir", type=Path, help="where to make the temporary folder (default $TMPDIR)")
    p.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.concurrency < 1 or args.requests < 1 or args.requests_large < 1:
        raise SystemExit("--concurrency, --requests and --requests-large must be at least 1")
    t_start = time.perf_counter()
    large = args.large_mib * MIB
    scenarios = [
        Scenario("a", "1 KiB msg, server-sealed", "server", "message", KIB, args.requests),
        Scenario(
            "b", f"{args.large_mib} MiB file, server-sealed", "server", "file", large, args.requests_large
        ),
        Scenario("c", "1 KiB msg, browser-sealed", "browser", "message", KIB, args.requests),
        Scenario(
            "d", f"{args.large_mib} MiB file, browser-sealed", "browser", "file", large, args.requests_large
        ),
    ]
    scenarios = [s for s in scenarios if s.key in args.only]
    payloads: dict[Kind, Callable[[], bytes]] = {
        "message": lambda: os.urandom(KIB // 2).hex().encode(),  # 1 KiB of text
        "file": lambda: os.urandom(large),
    }

    base = Path(tempfile.mkdtemp(prefix="tipline-load-", dir=args.dir))
    server = Server(base)
    results: list[Result] = []
    try:
        recipients = [SecretKey.generate().public_key]  # the secret half is never written
        server.add_key(recipients[0])
        server.start()
        print(
            f"tipline serve on 127.0.0.1:{server.port}, workers {server.workers()}; data in {base}",
            file=sys.stderr,
        )
        for scn in scenarios:
            print(
                f"({scn.key}) {scn.label}: {scn.requests} requests, {args.concurrency} clients...",
                file=sys.stderr,
            )
            r = run_scenario(
                server,
                scn,
                payloads[scn.kind](),
                recipients,
                args.concurrency,
                args.time_cap,
                args.sample_interval,
            )
            results.append(r)
            print(
                f"    {r.ok} ok, {r.failed} failed in {r.elapsed_s:.1f} s; "
                f"worker RSS {r.rss_start_kb // 1024} -> max {r.rss_max_kb // 1024} "
                f"-> {r.rss_end_kb // 1024} MiB; "
                f"worker pids {sorted(r.workers_seen)}",
                file=sys.stderr,
            )
            for err, n in r.errors.most_common(5):
                print(f"    {n} x {err}", file=sys.stderr)
        pending = server.pending_count()
        log = server.log_path.read_text(errors="replace").splitlines()
        boots = sum("Booting worker" in line for line in log)
        problems = [line for line in log if re.search(r"ERROR|CRITICAL|TIMEOUT|Traceback", line)]
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)

    rows = [row(r) for r in results]
    total_s = time.perf_counter() - t_start
    print()
    print(text_table(rows))
    print()
    print(
        f"Clients: {args.concurrency} threads, a new connection per request (Connection: close). "
        f"Latency: connect to last reply byte. MiB/s: payload bytes of ok requests."
    )
    print(
        f"Worker VmHWM: peak since the worker started (cumulative over scenarios); "
        f"max VmRSS: largest sample every {args.sample_interval} s during that scenario."
    )
    print(f"Worker boots in the log: {boots} (2 at start); pending folders left: {pending}.")
    for line in problems[:10]:
        print(f"server log: {line}")
    print(f"Total run time: {total_s:.1f} s")
    if args.markdown:
        print()
        print(markdown_table(rows))
    bad = [r for r in results if not r.db_matches or r.ok == 0]
    if bad:
        keys = ", ".join(r.scenario.key for r in bad)
        print(f"FAIL: scenario(s) {keys}: no successes or DB rows != ok requests", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
