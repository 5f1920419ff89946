"""systemd-analyze on deploy/systemd's units, for the unit tests (test_systemd.py, test_notify_units.py).

Units are rendered with the venv's bin for /opt/tipline/venv/bin, since `verify`
checks that ExecStart binaries exist; `security --offline` scores the sandbox.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import unavailable

from .common import DEPLOY, VENV_BIN

SYSTEMD = DEPLOY / "systemd"
# What systemd-analyze prints about a unit file it does not fully accept.
COMPLAINT = re.compile(r"Unknown|Failed to parse|Invalid|not executable|Missing|ignoring|bad-setting", re.I)


def rendered(text: str) -> str:
    """A unit's text for this machine: the venv's programs where the install puts them."""
    return text.replace("/opt/tipline/venv/bin/", f"{VENV_BIN}/")


def verify(analyze: str, files: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [analyze, "verify", "--man=no", *files], capture_output=True, text=True, timeout=120
    )


def complaints(r: subprocess.CompletedProcess) -> list[str]:
    """The lines of a `verify` run that say a unit was not fully accepted."""
    return [ln for ln in (r.stdout + r.stderr).splitlines() if COMPLAINT.search(ln)]


def exposure(analyze: str, path: Path) -> tuple[float, str]:
    """systemd's own score of a unit's sandbox (0 locked down, 10 none), and its report.

    Skips (fails under CI) when this systemd-analyze cannot score unit files offline.
    """
    r = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout + r.stderr)
    if m is None:
        unavailable(f"this systemd-analyze cannot score unit files offline: {r.stderr.strip()[:200]}")
    return float(m.group(1)), r.stdout
