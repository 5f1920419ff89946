"""The suite's own configuration stops a hung test: it fails with its stack instead of holding CI.

A real pytest run in a subprocess, on this project's pyproject.toml, with the timeout made short.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_a_hung_test_fails_with_its_stack(tmp_path):
    hung = tmp_path / "test_hung.py"
    hung.write_text("import threading\n\ndef test_waits_forever():\n    threading.Event().wait()\n")
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "--timeout=3",
         "-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path), str(hung)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 1, r.stdout[-2000:]
    assert "Timeout (>3.0s)" in r.stdout
    assert "threading.Event().wait()" in r.stdout  # the stack says where it hung
    assert "1 failed" in r.stdout
