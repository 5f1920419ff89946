"""How the suite itself runs: a hung test fails with its stack, and the longest files start first.

Real pytest runs in a subprocess, on this project's own configuration.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.schedule import HEAVIEST_FIRST

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


def test_the_longest_files_are_collected_first_in_the_lists_order():
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "--collect-only", "-q"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:]
    files = list(dict.fromkeys(line.split("::", 1)[0] for line in r.stdout.splitlines() if "::" in line))
    assert files[: len(HEAVIEST_FIRST)] == list(HEAVIEST_FIRST)  # each listed file exists, in order
    assert len(files) > 3 * len(HEAVIEST_FIRST)  # and the rest still follow
