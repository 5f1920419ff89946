"""Decrypting a large attachment runs in constant memory (the issue's bound: 100 MB RSS)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tipline.format.payload import Metadata
from tipline.format.stream import EnvelopeWriter

SIZE = 300 * 1024 * 1024


@pytest.mark.slow
def test_decrypt_300mb_under_100mb_rss(alice, tmp_path):
    # Unlocking a keygen-made key costs Argon2id's 256 MiB, by design, before
    # decryption starts. This key file asks for 8 KiB instead, so the peak
    # measured is the decryption's own.
    (tmp_path / "pw").write_text("memory test passphrase\n")
    (tmp_path / "k.key").write_text(alice.to_text(b"memory test passphrase", opslimit=1, memlimit=8192))
    pub = alice.public_key
    env = tmp_path / "big.envelope"
    block = os.urandom(1 << 20)
    with open(env, "wb") as f:
        w = EnvelopeWriter(f, [pub])
        for _ in range(SIZE >> 20):
            w.write(block)
        w.close(Metadata("file", "big.bin", ""))
    # The child reports its own peak (VmHWM) as it exits: wait4's ru_maxrss
    # would also count the pytest process the child was forked from.
    code = (
        "import sys, re; from tipline.offline.cli import main; rc = main(sys.argv[1:]); "
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
        "print('PEAK_KB', hwm); sys.exit(rc)"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "decrypt",
            str(env),
            "--key",
            str(tmp_path / "k.key"),
            "--out",
            str(tmp_path / "out"),
            "--passphrase-file",
            str(tmp_path / "pw"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out" / "big" / "files" / "big.bin"
    assert out.stat().st_size == SIZE
    with open(out, "rb") as f:
        assert f.read(1 << 20) == block
    peak_mb = int(proc.stdout.split("PEAK_KB")[1]) / 1024
    print(f"peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 100
