"""Time Tipline through a private Tor network: first page and submission latency over real onion circuits.

The unit, HTTP and load tests talk to gunicorn directly; a source never does.
Every page and every upload crosses a Tor client, six relays' worth of onion
circuits and the service's tor. This script puts numbers on that path, on one
machine, with no access to the public network. It is run by hand (as root:
it needs a private network namespace), never by the test suite:

    .venv/bin/python bench/tor.py [--runs 5] [--markdown] [--keep]

What it does:

* Starts tests/tor/harness.py's TiplineOnTor inside a new network namespace
  that has only loopback: 3 directory authorities and 2 relays
  (TestingTorNetwork, voting every 10 s), deploy/torrc's two onion services
  rendered for this machine (PoW defences on, as shipped), the source app and
  the journalist app as real `tipline serve` processes, and two client tors.
  It prints how long the network took: launch to a consensus listing every
  relay, and launch to the first source and journalist pages fetched through
  their onions (the descriptor takes a few seconds to publish). The key pair
  is made here (SecretKey.generate()); only the public half is written.
* Then four scenarios, --runs times each, one after the other (no
  concurrency): a 1 KiB message and a 5 MiB attachment, each sealed by the
  browser (sealed here with tipline.format.stream.seal_bytes before the clock
  starts, posted to /submit?sealed=browser with Accept: application/json) and
  by the server (the no-JavaScript form post). Each run is a new visitor: a
  SOCKS5 username never used before makes the client tor build a new circuit
  (IsolateSOCKSAuth), so "first page" is GET / over a fresh rendezvous, as a
  source who just opened the address sees it; the POST then reuses that
  circuit, as a browser would.
* The SOCKS5 client is a few lines of socket code (harness.socks_connect) with
  socks5h semantics: the onion name goes to the proxy, nothing is resolved
  here. A request counts only on the exact success reply (200 with the codename page for
  the form, 200 {"ok": true} for the browser path), and the number of stored
  submissions must match at the end, or the exit code is 1.
* Latency is wall time from sending the request to the last byte of the
  reply (first page: from opening the SOCKS connection). Payloads are
  os.urandom bytes; the 1 KiB message is random hex text.
* Memory: the summed Pss (and RSS) of the 8 tor processes and of the two
  apps (gunicorn masters and workers), once the network is up and at the end.

Caveat: every relay, both tors, gunicorn and this client share the machine's
cores (2 on the reference VM), and loopback has no latency: the numbers are
Tor's cryptography and scheduling, not the network delay real circuits add
(hundreds of milliseconds per round trip).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# The repository (for tests/tor's harness) and bench/ (for load.py's request bodies).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # the same request bodies as the loopback benchmark
from proc_memory import processes, tree_memory

from tests.tor.harness import NetNamespace, OnionHTTPConnection, TiplineOnTor, Unavailable
from tipline.format.keys import PublicKey, SecretKey

KIB = 1024
MIB = 1024 * 1024
CSRF_COOKIE = load.CSRF_COOKIE
TOKEN_RE = load.TOKEN_RE


@dataclass(frozen=True)
class Scenario:
    label: str
    sealed_by: str  # "browser" or "server"
    kind: str  # "message" or "file"
    size: int


@dataclass
class Samples:
    label: str
    size: int = 0
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def visit(conn: OnionHTTPConnection) -> tuple[str, str]:
    """GET / as a new visitor on CONN: the CSRF cookie and the form's token."""
    conn.request("GET", "/")
    r = conn.getresponse()
    body = r.read().decode("utf-8", "replace")
    if r.status != 200:
        raise RuntimeError(f"GET / answered {r.status}")
    cookie = ""
    for value in r.headers.get_all("Set-Cookie") or []:
        name, _, rest = value.partition("=")
        if name.strip() == CSRF_COOKIE:
            cookie = rest.split(";", 1)[0]
    m = TOKEN_RE.search(body)
    if not cookie or not m:
        raise RuntimeError("GET / gave no CSRF cookie or token")
    return cookie, m.group(1)


def succeeded(scn: Scenario, status: int, location: str | None, body: bytes) -> bool:
    if scn.sealed_by == "server":
        return status == 200 and b'id="codename"' in body
    try:
        return status == 200 and json.loads(body).get("ok") is True
    except ValueError:
        return False


def run(site: TiplineOnTor, scn: Scenario, runs: int, recipients: list[PublicKey], first: Samples) -> Samples:
    out = Samples(scn.label, scn.size)
    for i in range(runs):
        payload = os.urandom(scn.size // 2).hex().encode() if scn.kind == "message" else os.urandom(scn.size)
        visitor = f"bench-{scn.sealed_by}-{scn.kind}-{i}-{os.urandom(4).hex()}"  # a new circuit
        conn = OnionHTTPConnection(site.source_onion, site.client.socks_port, isolation=visitor)
        try:
            t0 = time.perf_counter()
            cookie, token = visit(conn)
            first.seconds.append(time.perf_counter() - t0)
            req = load.prepare(scn, cookie, token, payload, recipients)  # type: ignore[arg-type]
            t1 = time.perf_counter()
            conn.request("POST", req.path, body=req.body, headers=load.fresh(req.headers))
            r = conn.getresponse()
            reply = r.read()
            elapsed = time.perf_counter() - t1
        except (OSError, RuntimeError, http.client.HTTPException) as e:
            out.failures.append(f"{type(e).__name__}: {e}")
            continue
        finally:
            conn.close()
        if succeeded(scn, r.status, r.headers.get("Location"), reply):
            out.seconds.append(elapsed)
        else:
            out.failures.append(f"HTTP {r.status}: {reply[:200]!r}")
    return out


def memory_mib(pids: list[int]) -> tuple[float, float]:
    """(summed Pss, summed VmRSS) in MiB of PIDS and all their descendants.

    Pss shares each shared page among the processes that map it, so it adds up honestly;
    VmRSS counts the tor binary and libraries once per process."""
    return tree_memory(pids, processes())


def fmt_size(n: int) -> str:
    return f"{n // MIB} MiB" if n >= MIB else f"{n // KIB} KiB" if n else ""


def table(rows: list[Samples], markdown: bool) -> str:
    head = ["", "runs ok", "median s", "max s", "MiB/s (median)"]
    body = []
    for s in rows:
        med = statistics.median(s.seconds) if s.seconds else float("nan")
        mx = max(s.seconds) if s.seconds else float("nan")
        rate = f"{s.size / MIB / med:.2f}" if s.size >= MIB and s.seconds else ""
        body.append(
            [s.label, f"{len(s.seconds)}/{len(s.seconds) + len(s.failures)}", f"{med:.2f}", f"{mx:.2f}", rate]
        )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * 4) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    fmt = [lambda c, w: c.ljust(w)] + [lambda c, w: c.rjust(w)] * 4
    return "\n".join(
        "  ".join(f(c, w) for f, c, w in zip(fmt, r, widths, strict=True)) for r in [head, *body]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--runs", type=int, default=5, help="runs per scenario (default 5)")
    p.add_argument("--large-mib", type=int, default=5, help="attachment size in MiB (default 5)")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (tor and app logs)")
    args = p.parse_args(argv)
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")
    large = args.large_mib * MIB
    scenarios = [
        Scenario("1 KiB message, browser-sealed", "browser", "message", KIB),
        Scenario("1 KiB message, server-sealed", "server", "message", KIB),
        Scenario(f"{fmt_size(large)} file, browser-sealed", "browser", "file", large),
        Scenario(f"{fmt_size(large)} file, server-sealed", "server", "file", large),
    ]
    base = Path(tempfile.mkdtemp(prefix="tipline-tor-bench-"))
    secret = SecretKey.generate()  # the secret half is never written
    pub = base / "journalist.pub"
    pub.write_text(secret.public_key.to_text())
    recipients = [secret.public_key]
    ok = True
    t_start = time.perf_counter()
    try:
        with NetNamespace():
            site = TiplineOnTor(base / "site", pub)
            try:
                print("starting the private Tor network...", file=sys.stderr)
                site.start()
                t = site.timings
                print(
                    f"network: consensus listing every relay after {t.consensus_s:.1f} s; first page "
                    f"through the source onion after {t.source_s:.1f} s, journalist (client auth) "
                    f"after {t.journalist_s:.1f} s (from launch)",
                    file=sys.stderr,
                )
                tor_pids = [n.proc.pid for n in site.net.all_tors()]
                app_pids = [site.source.proc.pid, site.journalist.proc.pid]
                mem_start = (memory_mib(tor_pids), memory_mib(app_pids))
                before = site.source.submission_count()
                first = Samples("first page, new circuit (GET /)")
                rows = []
                for scn in scenarios:
                    print(f"{scn.label}: {args.runs} runs...", file=sys.stderr)
                    rows.append(run(site, scn, args.runs, recipients, first))
                    for f in rows[-1].failures:
                        print(f"    failed: {f}", file=sys.stderr)
                stored = site.source.submission_count() - before
                mem_end = (memory_mib(tor_pids), memory_mib(app_pids))
            except BaseException:
                print(site.log_report(), file=sys.stderr)
                raise
            finally:
                site.stop()
    except Unavailable as e:
        print(f"bench/tor.py cannot run here: {e}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)

    successes = sum(len(r.seconds) for r in rows)
    failed = sum(len(r.failures) for r in rows)
    if failed:
        print(f"FAILED: {failed} submission(s) got no success reply (see above)", file=sys.stderr)
        ok = False
    if stored != successes:
        print(f"MISMATCH: {successes} successful replies, {stored} stored submissions", file=sys.stderr)
        ok = False
    print()
    print(table([first, *rows], args.markdown))
    print()
    print(
        f"Network start (launch -> consensus with all 5 relays / source page / journalist page): "
        f"{t.consensus_s:.1f} / {t.source_s:.1f} / {t.journalist_s:.1f} s."
    )
    for when, (tor_mem, app_mem) in (("once up", mem_start), ("at the end", mem_end)):
        print(
            f"Memory {when}, Pss (RSS): 8 tor processes {tor_mem[0]:.0f} ({tor_mem[1]:.0f}) MiB, "
            f"the two apps with their workers {app_mem[0]:.0f} ({app_mem[1]:.0f}) MiB."
        )
    print(f"Whole run {time.perf_counter() - t_start:.0f} s.")
    print(
        "First page: a new circuit per run (fresh SOCKS5 username), SOCKS connect to last byte of GET /. "
        "Submissions: the POST on that circuit, request sent to last reply byte; sealing is untimed."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
