"""Benchmark the Tipline envelope against raw libsodium secretstream and GnuPG.

Why this exists: the envelope (docs/envelope.md) is a thin layer over
libsodium's crypto_secretstream_xchacha20poly1305. The layer costs a header,
Padmé padding, metadata and some Python per 64 KiB chunk. This script checks
that the layer stays thin (Tipline/raw throughput, aim >= 0.8), that we are
not slower than what newsrooms use today (GnuPG to a Curve25519 key), and
that sealing and opening run in constant memory (peak RSS must not grow with
the input size). It is run by hand, never by the test suite:

    .venv/bin/python bench/crypto.py [--sizes 1,200] [--repeat N] [--markdown]

How it measures:

* Inputs are os.urandom data (incompressible, like most uploads and like any
  ciphertext), in a temporary directory that is removed at the end.
* Every operation is file to file and runs in its own process, so that the
  peak RSS of one cannot hide in another's. Peak RSS is the kernel's
  ru_maxrss from os.wait4 on that process.
* Caveat on ru_maxrss: Linux folds the RSS of the pre-exec image of a child
  (a copy of its parent after fork, or the parent's whole address space
  after vfork/posix_spawn, which subprocess uses) into the child's
  ru_maxrss. A gpg started straight from this script would "use" as much
  memory as this script. So each measured process is forked by a tiny
  launcher (python -S -I, only the os module) that execs it at once and
  reports os.wait4's rusage; the launcher's own size is the measurement
  floor, printed with the results (gpg is only just above it).
* Python operations (Tipline, raw secretstream) are timed inside their
  process, from opening the files to closing them, after the interpreter
  started, imported PyNaCl and ran the same operation untimed until 8 MiB
  went through (at least once). --cold skips that: a fresh process faults in
  every page of its first 1 MiB blocks and CPython has not yet specialised
  its loops, which at 1 MiB costs more than the Tipline layer itself and is
  not what a long-running server sees. gpg is timed around the whole
  process, so its times include process start and fetching the secret key
  from gpg-agent; that fixed cost is measured on a 1-byte file and printed.
* Each operation is run --repeat times (default 10 up to 16 MiB, 3 above:
  on a small VM a single file-to-file run can take twice as long as the
  next) and the fastest run is reported; peak RSS is the largest of the
  runs. The tools take turns within each round, and sync(2) runs before each
  run so that one run's writeback does not land in the next one's time.
  Every decryption's output is compared with the input by SHA-256, so a
  broken build cannot produce a fast number.
* gpg runs with --compress-algo none, because compressing random data only
  burns time; a second row shows gpg's defaults (ZLIB with the key's default
  preferences) since that is what people get when they type `gpg -e`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1 << 20
BLOCK = MIB  # Tipline: content is fed to EnvelopeWriter in 1 MiB blocks
RAW_CHUNK = 65536  # raw secretstream: same chunk size as the envelope
WARMUP_BYTES = 8 * MIB  # Python ops: untimed runs in the same process first, at least one
SMALL_REPEAT_LIMIT = 16 * MIB  # inputs up to this size default to 10 runs, larger to 3
GPG_UID = "bench <bench@example.invalid>"
META = ("file", "x.bin", "application/octet-stream")
GPG_CIPHERS = {2: "3DES", 7: "AES128", 8: "AES192", 9: "AES256", 10: "Twofish"}
GPG_AEAD = {0: "CFB + MDC (SHA-1)", 1: "EAX (AEAD)", 2: "OCB (AEAD)"}
GPG_COMPRESSION = {0: "none", 1: "ZIP", 2: "ZLIB", 3: "BZIP2"}

# Forks, execs argv at once, waits with wait4 and prints one JSON line. Only
# builtin modules, so that the fork copies as little as possible (see the
# module docstring). Run with `python -S -I -c`.
LAUNCHER = """
import os, sys, time
argv = sys.argv[1:]
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
t1 = time.perf_counter()
sys.stdout.write('{"launcher": true, "wall": %r, "maxrss_kib": %d, "exit": %d}\\n'
                 % (t1 - t0, ru.ru_maxrss, os.waitstatus_to_exitcode(status)))
"""


# --------------------------------------------------------------------------
# The measured operations. Each runs in a fresh process (--one OP ARGS...).
# --------------------------------------------------------------------------


def _tipline_seal(src: str, dst: str, key_file: str) -> dict[str, object]:
    from tipline.format.keys import SecretKey
    from tipline.format.payload import Metadata
    from tipline.format.stream import EnvelopeWriter

    recipient = SecretKey(Path(key_file).read_bytes()).public_key
    meta = Metadata(*META)
    # One reused buffer: a fresh 1 MiB bytes object per block can land on
    # new pages (glibc trims the heap top), and then page faults, not
    # Tipline, would set the pace.
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    t0 = time.perf_counter()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        writer = EnvelopeWriter(fout, [recipient])
        while n := fin.readinto(buf):
            writer.write(view[:n])
        writer.close(meta)
    return {"seconds": time.perf_counter() - t0}


def _tipline_open(src: str, dst: str, key_file: str) -> dict[str, object]:
    from tipline.format.keys import SecretKey
    from tipline.format.stream import decrypt

    secret = SecretKey(Path(key_file).read_bytes())
    t0 = time.perf_counter()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        meta, length = decrypt(fin, [secret], fout)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "length": length, "meta": [meta.kind, meta.name, meta.media_type]}


def _raw_seal(src: str, dst: str, key_file: str) -> dict[str, object]:
    from nacl import bindings

    key = Path(key_file).read_bytes()
    push = bindings.crypto_secretstream_xchacha20poly1305_push
    message = bindings.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
    final = bindings.crypto_secretstream_xchacha20poly1305_TAG_FINAL
    t0 = time.perf_counter()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        state = bindings.crypto_secretstream_xchacha20poly1305_state()
        fout.write(bindings.crypto_secretstream_xchacha20poly1305_init_push(state, key))
        cur = fin.read(RAW_CHUNK)
        while True:
            nxt = fin.read(RAW_CHUNK)
            fout.write(push(state, cur, None, message if nxt else final))
            if not nxt:
                break
            cur = nxt
    return {"seconds": time.perf_counter() - t0}


def _raw_open(src: str, dst: str, key_file: str) -> dict[str, object]:
    from nacl import bindings

    key = Path(key_file).read_bytes()
    pull = bindings.crypto_secretstream_xchacha20poly1305_pull
    final = bindings.crypto_secretstream_xchacha20poly1305_TAG_FINAL
    ct_chunk = RAW_CHUNK + bindings.crypto_secretstream_xchacha20poly1305_ABYTES
    t0 = time.perf_counter()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        state = bindings.crypto_secretstream_xchacha20poly1305_state()
        header = fin.read(bindings.crypto_secretstream_xchacha20poly1305_HEADERBYTES)
        bindings.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key)
        while True:
            chunk = fin.read(ct_chunk)
            if not chunk:
                raise SystemExit("raw stream ended without TAG_FINAL")
            message, tag = pull(state, chunk, None)
            fout.write(message)
            if tag == final:
                break
        if fin.read(1):
            raise SystemExit("data after TAG_FINAL")
    return {"seconds": time.perf_counter() - t0}


def _baseline(key_file: str) -> dict[str, object]:
    """Import what the other operations import and do nothing: the RSS floor of a Python op."""
    import nacl.bindings  # noqa: F401

    import tipline.format.stream  # noqa: F401
    from tipline.format.keys import SecretKey

    SecretKey(Path(key_file).read_bytes())
    return {"seconds": 0.0}


ONE_OPS: dict[str, Callable[..., dict[str, object]]] = {
    "tipline-seal": _tipline_seal,
    "tipline-open": _tipline_open,
    "raw-seal": _raw_seal,
    "raw-open": _raw_open,
    "baseline": _baseline,
}


def run_one(op: str, warmups: int, args: Sequence[str]) -> None:
    """Hidden mode: run one operation and print its result as one JSON line.

    warmups: untimed runs into a scratch file first, so that the timed run
    sees the process in its steady state, as a long-running server is: the
    heap has grown to fit the buffers (a fresh page costs a page fault) and
    CPython 3.11 has specialised the hot loops.
    """
    fn = ONE_OPS[op]
    if len(args) == 3:
        src, dst, key = args
        for _ in range(warmups):
            fn(src, dst + ".warmup", key)
            os.unlink(dst + ".warmup")
    result = fn(*args)
    sys.stdout.write(json.dumps({"op": op, **result}) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------
# The driver.
# --------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    maxrss_kib: int
    extra: dict[str, object] = field(default_factory=dict)


def launch(argv: Sequence[str], env: dict[str, str] | None = None) -> Sample:
    """Run argv (argv[0] an absolute path) under the launcher; time and peak RSS."""
    proc = subprocess.run(
        [sys.executable, "-S", "-I", "-c", LAUNCHER, *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    info = next((ln for ln in lines if ln.get("launcher")), None)
    if proc.returncode != 0 or info is None or info["exit"] != 0:
        raise SystemExit(
            f"benchmark step failed: {' '.join(argv)}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    child = next((ln for ln in lines if not ln.get("launcher")), {})
    seconds = float(child.get("seconds", info["wall"]))
    return Sample(seconds, int(info["maxrss_kib"]), child)


def python_op(op: str, warmups: int, *args: str) -> Sample:
    script = str(Path(__file__).resolve())
    return launch([sys.executable, script, "--one", op, str(warmups), *args])


def python_tool(name: str, prefix: str, key_file: str, cold: bool) -> Tool:
    """A tool whose operations are ONE_OPS[prefix + "-seal"] and ONE_OPS[prefix + "-open"]."""

    def run(op: str, src: Path, dst: Path) -> Sample:
        # Untimed runs before the timed one: enough to push WARMUP_BYTES through.
        warmups = 0 if cold else max(1, -(-WARMUP_BYTES // src.stat().st_size))
        return python_op(op, warmups, str(src), str(dst), key_file)

    return Tool(name, lambda s, d: run(f"{prefix}-seal", s, d), lambda s, d: run(f"{prefix}-open", s, d))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(MIB):
            h.update(block)
    return h.hexdigest()


def make_input(path: Path, size: int) -> str:
    """Write size random bytes to path without holding them in memory; return the SHA-256."""
    h = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, MIB))
            f.write(block)
            h.update(block)
            left -= len(block)
    return h.hexdigest()


class Gpg:
    """GnuPG in a throwaway GNUPGHOME with an unprotected ed25519/cv25519 key."""

    def __init__(self, exe: str, home: Path) -> None:
        self.exe = exe
        self.home = home
        home.mkdir(mode=0o700)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GPG_")}
        self.env["GNUPGHOME"] = str(home)
        base = ["--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
        self._run(*base, "--quick-gen-key", GPG_UID, "ed25519", "cert", "never")
        self.fpr = self._fingerprint()
        self._run(*base, "--quick-add-key", self.fpr, "cv25519", "encr", "never")
        subkeys = [
            ln.split(":")
            for ln in self._run("--with-colons", "--list-keys", self.fpr).splitlines()
            if ln.startswith("sub:")
        ]
        if not any("e" in s[11] and s[16] == "cv25519" for s in subkeys):
            raise SystemExit(f"gpg did not make a cv25519 encryption subkey: {subkeys}")
        version = self._run("--version").splitlines()
        self.version = version[0].replace("gpg (GnuPG) ", "GnuPG ") + ", " + version[1]

    def _run(self, *args: str) -> str:
        proc = subprocess.run([self.exe, *args], env=self.env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"gpg {' '.join(args)} failed:\n{proc.stderr}")
        return proc.stdout

    def _fingerprint(self) -> str:
        for ln in self._run("--with-colons", "--list-keys", GPG_UID).splitlines():
            if ln.startswith("fpr:"):
                return ln.split(":")[9]
        raise SystemExit("gpg key generation left no fingerprint")

    def encrypt_argv(self, src: Path, dst: Path, *, compress: bool) -> list[str]:
        argv = [self.exe, "--batch", "--yes", "--quiet", "--no-tty", "--trust-model", "always"]
        if not compress:
            argv += ["--compress-algo", "none"]
        return [*argv, "--recipient", self.fpr, "--output", str(dst), "--encrypt", str(src)]

    def decrypt_argv(self, src: Path, dst: Path) -> list[str]:
        return [
            self.exe,
            "--batch",
            "--yes",
            "--quiet",
            "--no-tty",
            "--output",
            str(dst),
            "--decrypt",
            str(src),
        ]

    def describe(self, ciphertext: Path) -> str:
        """Cipher, integrity and compression that gpg chose (untimed --list-packets)."""
        out = self._run("--batch", "--status-fd", "1", "--list-packets", str(ciphertext))
        cipher, aead, compression = "?", "?", "none"
        for ln in out.splitlines():
            if ln.startswith("[GNUPG:] DECRYPTION_INFO"):
                parts = ln.split()
                cipher = GPG_CIPHERS.get(int(parts[3]), parts[3])
                aead = GPG_AEAD.get(int(parts[4]) if len(parts) > 4 else 0, "?")
            if ln.startswith(":compressed packet: algo="):
                n = int(ln.rsplit("=", 1)[1])
                compression = GPG_COMPRESSION.get(n, str(n))
        return f"{cipher} {aead}, compression {compression}"

    def close(self) -> None:
        gpgconf = shutil.which("gpgconf")
        if gpgconf:
            subprocess.run([gpgconf, "--kill", "all"], env=self.env, capture_output=True, check=False)


@dataclass
class Row:
    size: int
    tool: str
    seal: Sample
    open: Sample
    ct_size: int
    detail: str = ""

    def mibps(self, s: Sample) -> float:
        return self.size / MIB / s.seconds if s.seconds > 0 else float("inf")


@dataclass
class Tool:
    name: str
    seal: Callable[[Path, Path], Sample]
    open: Callable[[Path, Path], Sample]
    describe: Callable[[Path], str] | None = None  # what is in a ciphertext (gpg: cipher, compression)


def fastest(samples: Sequence[Sample]) -> Sample:
    """The fastest run; its peak RSS is the largest seen in any run."""
    quick = min(samples, key=lambda s: s.seconds)
    return Sample(quick.seconds, max(s.maxrss_kib for s in samples), quick.extra)


def check_output(tool: Tool, sample: Sample, out: Path, digest: str, size: int) -> None:
    """Refuse to report a decryption that did not give back the input."""
    if sha256_file(out) != digest:
        raise SystemExit(f"{tool.name}: decrypted output differs from the input")
    extra = sample.extra
    if "length" in extra and (extra["length"] != size or extra["meta"] != list(META)):
        raise SystemExit(f"{tool.name}: wrong length or metadata: {extra}")


def bench_size(size: int, repeat: int, work: Path, tools: Sequence[Tool], sync: bool) -> list[Row]:
    """Seal, then open, with every tool; repeat rounds.

    The tools take turns within each round, so that a slow spell of the
    machine (writeback, a noisy neighbour) hits all of them alike.
    """
    src = work / "input.bin"
    digest = make_input(src, size)
    ct = {t.name: work / f"tool{i}.ct" for i, t in enumerate(tools)}
    out = {t.name: work / f"tool{i}.out" for i, t in enumerate(tools)}
    seals: dict[str, list[Sample]] = {t.name: [] for t in tools}
    opens: dict[str, list[Sample]] = {t.name: [] for t in tools}
    details: dict[str, str] = {}
    for phase in ("seal", "open"):
        for n in range(repeat):
            progress(f"{fmt_size(size)}: {phase}, round {n + 1} of {repeat}")
            for tool in tools:
                dst = ct[tool.name] if phase == "seal" else out[tool.name]
                dst.unlink(missing_ok=True)
                if sync:
                    os.sync()  # earlier runs' dirty pages are not written back during this one
                if phase == "seal":
                    seals[tool.name].append(tool.seal(src, dst))
                else:
                    sample = tool.open(ct[tool.name], dst)
                    check_output(tool, sample, dst, digest, size)
                    dst.unlink()
                    opens[tool.name].append(sample)
        if phase == "seal":  # what the last run actually wrote, untimed
            details = {t.name: t.describe(ct[t.name]) if t.describe else "" for t in tools}
    rows = [
        Row(
            size,
            t.name,
            fastest(seals[t.name]),
            fastest(opens[t.name]),
            ct[t.name].stat().st_size,
            details[t.name],
        )
        for t in tools
    ]
    for path in [src, *ct.values()]:
        path.unlink()
    return rows


def progress(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


def fmt_size(size: int) -> str:
    mib = size / MIB
    return f"{mib:g} MiB"


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


TIPLINE, RAW, GPG, GPG_DEFAULT = "tipline", "raw secretstream", "gpg", "gpg (defaults)"


def table(rows: Sequence[Row], markdown: bool) -> list[str]:
    head = ["size", "tool", "seal MiB/s", "open MiB/s", "seal RSS MiB", "open RSS MiB", "ct overhead"]
    body = []
    for r in rows:
        overhead = (r.ct_size - r.size) / r.size * 100
        body.append(
            [
                fmt_size(r.size),
                r.tool,
                f"{r.mibps(r.seal):.0f}",
                f"{r.mibps(r.open):.0f}",
                mib(r.seal.maxrss_kib),
                mib(r.open.maxrss_kib),
                f"{overhead:.2f} %",
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---", "---"] + ["---:"] * 5) + "|"]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        return lines
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    lines = [fmt(head), "  ".join("-" * w for w in widths)]
    last = None
    for r, b in zip(rows, body, strict=True):
        if last is not None and r.size != last:
            lines.append("")
        last = r.size
        lines.append(fmt(b))
    return lines


def ratio_lines(rows: Sequence[Row]) -> list[str]:
    out = []
    for size in dict.fromkeys(r.size for r in rows):
        by = {r.tool: r for r in rows if r.size == size}
        t = by[TIPLINE]
        parts = []
        for other, label in (
            (RAW, "Tipline/raw"),
            (GPG, "Tipline/gpg"),
            (GPG_DEFAULT, "Tipline/gpg-defaults"),
        ):
            if other in by:
                o = by[other]
                s = t.mibps(t.seal) / o.mibps(o.seal)
                d = t.mibps(t.open) / o.mibps(o.open)
                flag = ""
                if other == RAW:
                    ok = round(min(s, d), 2) >= 0.8  # as printed
                    flag = " (ok, aim >= 0.8)" if ok else " (BELOW the 0.8 aim)"
                parts.append(f"{label} seal {s:.2f} open {d:.2f}{flag}")
        out.append(f"ratios at {fmt_size(size)} (Tipline MiB/s / other MiB/s): " + "; ".join(parts))
    return out


def parse_sizes(text: str) -> list[int]:
    sizes = [int(float(x) * MIB) for x in text.split(",") if x.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes are positive numbers of MiB, e.g. 1,200")
    return sizes


def default_repeat(size: int) -> int:
    # Small runs are cheap and noisy (file creation, page faults): take many.
    return 10 if size <= SMALL_REPEAT_LIMIT else 3


def gpg_tools(g: Gpg, work: Path, with_defaults: bool) -> tuple[list[Tool], list[str]]:
    """The gpg rows, and notes on what gpg chose and what one call costs."""
    variants = [(GPG, False)] + ([(GPG_DEFAULT, True)] if with_defaults else [])
    tools = [
        Tool(
            name,
            lambda s, d, c=compress: launch(g.encrypt_argv(s, d, compress=c), g.env),
            lambda s, d: launch(g.decrypt_argv(s, d), g.env),
            g.describe,
        )
        for name, compress in variants
    ]
    notes = [f"gpg: {g.version}; key ed25519 + cv25519 encryption subkey; --trust-model always"]
    # Also starts gpg-agent before anything is timed.
    probe, probe_ct, probe_out = work / "probe.bin", work / "probe.gpg", work / "probe.out"
    probe.write_bytes(b"x")
    for tool in tools:
        enc = fastest([tool.seal(probe, probe_ct) for _ in range(5)])
        dec = fastest([tool.open(probe_ct, probe_out) for _ in range(5)])
        notes.append(
            f"{tool.name}: fixed cost per call (1-byte file): encrypt {enc.seconds * 1000:.1f} ms, "
            f"decrypt {dec.seconds * 1000:.1f} ms, included in its times"
        )
    return tools, notes


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--one"]:
        run_one(argv[1], int(argv[2]), argv[3:])
        return 0

    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--sizes", type=parse_sizes, default=parse_sizes("1,200"), help="MiB, comma separated")
    p.add_argument(
        "--repeat", type=int, default=None, help="runs per operation (default 10 to 16 MiB, else 3)"
    )
    p.add_argument("--tmp", type=Path, default=None, help="directory for the inputs (default: system temp)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--gpg", default=shutil.which("gpg"), help="gpg executable (default: gpg on PATH)")
    p.add_argument("--no-gpg", action="store_true", help="skip GnuPG")
    p.add_argument("--no-gpg-defaults", action="store_true", help="skip the gpg row with default compression")
    p.add_argument("--cold", action="store_true", help="time Python ops without warm-up runs first")
    p.add_argument("--no-sync", action="store_true", help="do not sync(2) before each run")
    args = p.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        p.error("--repeat must be at least 1")
    repeats = {size: args.repeat or default_repeat(size) for size in args.sizes}

    import platform

    import nacl
    from nacl import bindings

    from tipline.format.keys import SecretKey

    notes = [f"Python {platform.python_version()}, PyNaCl {nacl.__version__}, {platform.machine()}, "]
    notes[0] += f"{os.cpu_count()} CPUs"
    rows: list[Row] = []
    gpg: Gpg | None = None
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="tipline-bench-", dir=args.tmp))
    try:
        tip_key, raw_key = work / "tipline.key", work / "raw.key"
        tip_key.write_bytes(SecretKey.generate().raw)
        raw_key.write_bytes(bindings.crypto_secretstream_xchacha20poly1305_keygen())
        tk, rk = str(tip_key), str(raw_key)
        tools = [python_tool(TIPLINE, "tipline", tk, args.cold), python_tool(RAW, "raw", rk, args.cold)]
        if not args.no_gpg:
            if not args.gpg:
                raise SystemExit("gpg not found; pass --gpg PATH or --no-gpg")
            progress("making a gpg key")
            gpg = Gpg(str(Path(args.gpg).resolve()), work / "gnupg")
            more_tools, gpg_notes = gpg_tools(gpg, work, not args.no_gpg_defaults)
            tools += more_tools
            notes += gpg_notes
        floor = launch(["/bin/true"]) if Path("/bin/true").exists() else None
        base = python_op("baseline", 0, tk)
        for size in args.sizes:
            rows += bench_size(size, repeats[size], work, tools, sync=not args.no_sync)
    finally:
        if gpg:
            gpg.close()
        shutil.rmtree(work, ignore_errors=True)

    notes.append(
        "MiB/s = plaintext MiB / seconds, fastest of "
        + ", ".join(f"{repeats[s]} at {fmt_size(s)}" for s in args.sizes)
        + "; Tipline and raw are timed inside their process, from opening the files to closing them"
        + ("" if args.cold else f", after untimed warm-up runs of {WARMUP_BYTES // MIB} MiB in all")
    )
    floor_note = f"; measurement floor (/bin/true): {mib(floor.maxrss_kib)} MiB" if floor else ""
    notes.append(
        "peak RSS = ru_maxrss of the process (largest of the runs); a Python process that only imports "
        f"PyNaCl and tipline: {mib(base.maxrss_kib)} MiB{floor_note}"
    )
    notes.append("ct overhead = ciphertext size / input size - 1; Tipline's is mostly Padmé padding")
    notes += [f"{r.tool} at {fmt_size(r.size)} wrote: {r.detail}" for r in rows if r.detail]
    notes.append(
        f"1-minute load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
        f"(anything near {os.cpu_count()} means another job shared the CPUs: rerun)"
    )
    bullet = "-" if args.markdown else "*"
    print("\n".join(table(rows, args.markdown)))
    print()
    print("\n".join(f"{bullet} {n}" for n in notes))
    print()
    ratios = ratio_lines(rows)
    print("\n".join(f"**{ln}**" if args.markdown else ln for ln in ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
