"""Hostile bundles are refused in constant memory, by the real tool in its own process.

Each bomb is one the audit used (issue 9, finding 2). The tool must refuse it
with exit 5 and a one-line reason, no traceback, and a peak RSS that does not
grow with the bomb. Peak RSS is a memory ceiling, not a timed assertion.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.offline import bombs
from tipline.format.payload import Metadata
from tipline.format.stream import seal_bytes

# The interpreter with PyNaCl peaks near 21 MB; the ceiling leaves room for a
# manifest of 40,000 submissions, and is a fraction of what the bombs reached
# before the fix (1 GB for the gzip bomb, 920 MB for the pax header).
CEILING_MB = 100


@pytest.fixture(scope="module")
def key(tmp_path_factory, alice):
    return bombs.cheap_key(tmp_path_factory.mktemp("bombkey"), alice)


def _refused(run: bombs.Run, reason: str) -> None:
    assert "Traceback" not in run.stderr, run.stderr
    assert run.code == 5, run.stderr
    assert reason in run.stderr, run.stderr
    print(f"peak RSS {run.peak_mb:.0f} MB")
    assert run.peak_mb < CEILING_MB


@pytest.mark.slow
def test_gzip_bomb(key, tmp_path):
    p = bombs.gzip_bomb(tmp_path / "bomb.tar")
    assert p.stat().st_size < 2 * 1024 * 1024
    _refused(bombs.decrypt_measured(p, *key, tmp_path / "out"), "gzip-compressed")


@pytest.mark.slow
def test_300mb_pax_header(key, tmp_path):
    p = bombs.pax_bomb(tmp_path / "pax.tar")
    _refused(bombs.decrypt_measured(p, *key, tmp_path / "out"), "oversized pax header")


@pytest.mark.parametrize("gnu_magic", [True, False], ids=["gnu", "posix-magic"])
def test_sparse_member_past_the_end(key, tmp_path, alice, gnu_magic):
    env = seal_bytes(bytes(200_000), Metadata("file", "z.bin", ""), [alice.public_key])
    p = bombs.sparse_bundle(tmp_path / "sparse.tar", env, gnu_magic=gnu_magic)
    _refused(bombs.decrypt_measured(p, *key, tmp_path / "out"), "GNU format" if gnu_magic else "sparse")


def test_5000_digit_integer_in_manifest(key, tmp_path):
    p = bombs.huge_integer_bundle(tmp_path / "int.tar")
    _refused(bombs.decrypt_measured(p, *key, tmp_path / "out"), "number far too large")


@pytest.mark.slow
def test_40000_members(key, tmp_path):
    # Each member is an envelope for somebody else: every one is read and
    # fails on its own (exit 4), so the run indexes and visits all 40,000.
    p = bombs.many_members_bundle(tmp_path / "many.tar", bombs.stranger_envelope())
    run = bombs.decrypt_measured(p, *key, tmp_path / "out")
    assert "Traceback" not in run.stderr
    assert run.code == 4, run.stderr[-500:]
    assert run.stderr.count("This envelope was not sealed to your key.") == 40_000
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    print(f"peak RSS {run.peak_mb:.0f} MB")
    assert run.peak_mb < CEILING_MB


def test_reading_a_bundle_never_imports_tarfile(key, tmp_path, alice):
    # tarfile is what CVE-2024-6232 and the bombs above went through: the
    # reader must not hand it a byte. Blocked here, a bundle still decrypts.
    p = bombs.good_bundle(
        tmp_path / "b.tar", {"sub_0123456789": [seal_bytes(b"tip", Metadata("message"), [alice.public_key])]}
    )
    code = (
        "import sys; sys.modules['tarfile'] = None\n"
        "from tipline.offline.cli import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    k, pw = key
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "decrypt",
            str(p),
            "--key",
            str(k),
            "--out",
            str(tmp_path / "out"),
            "--passphrase-file",
            str(pw),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "sub_0123456789" / "message.txt").read_bytes() == b"tip"
