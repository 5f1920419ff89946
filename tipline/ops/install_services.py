"""`tipline install`: systemd and tor. Start what is not running, restart what changed, and wait for
tor to create the two onion services' addresses.

Each call is systemctl's own; a failure is one line that names the unit and
the journal command that tells why.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

from tipline.ops.install_layout import InstallError

HS_DIRS = {
    "source": Path("/var/lib/tor/tipline-source"),
    "journalist": Path("/var/lib/tor/tipline-journalist"),
}
APPS = ("tipline-source.service", "tipline-journalist.service")
TIMERS = ("tipline-purge.timer", "tipline-notify.timer")
TOR = "tor.service"  # Debian's: it starts and reloads tor@default


def systemctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=180, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InstallError(f"`systemctl {' '.join(args)}` did not finish ({e}).") from None
    if check and r.returncode != 0:
        unit = next((a for a in args if a.endswith((".service", ".timer"))), "")
        journal = "tor@default" if unit == TOR else unit
        why = (r.stderr or r.stdout).strip().splitlines()[:1] or [f"exit {r.returncode}"]
        raise InstallError(
            f"`systemctl {' '.join(args)}` failed: {why[0]} "
            f"See why: journalctl -u {journal or 'the unit'} -n 50"
        )
    return r


def is_enabled(unit: str) -> bool:
    return systemctl("is-enabled", "--quiet", unit, check=False).returncode == 0


def is_active(unit: str) -> bool:
    return systemctl("is-active", "--quiet", unit, check=False).returncode == 0


def converge(units: tuple[str, ...], restart: bool, changes: list[str]) -> None:
    """Each unit enabled and running; restarted when RESTART (its files or the code changed)."""
    off = [u for u in units if not is_enabled(u)]
    if off:
        systemctl("enable", "--quiet", *off)
        changes.append(f"enabled {', '.join(off)}")
    running = [u for u in units if is_active(u)]
    for u in units:
        if u not in running:
            systemctl("start", u)
        elif restart:
            systemctl("restart", u)
    started = [u for u in units if u not in running]
    if started:
        changes.append(f"started {', '.join(started)}")
    if restart and running:
        changes.append(f"restarted {', '.join(running)}")


def stop_apps(changes: list[str]) -> None:
    """Stop the running apps, for an upgrade's migrations; converge() starts them again after."""
    running = [u for u in APPS if is_active(u)]
    for u in running:
        systemctl("stop", u)
    if running:
        changes.append(f"stopped {', '.join(running)} for the upgrade")


def wait_for_hostnames(root: Path = Path("/"), timeout: float = 120.0) -> dict[str, str]:
    """The two onion addresses, once tor has written both hostname files (it does so at start, before
    it reaches the network)."""
    deadline = time.monotonic() + timeout
    files = {app: root / d.relative_to("/") / "hostname" for app, d in HS_DIRS.items()}
    while True:
        found = {}
        for app, f in files.items():
            with contextlib.suppress(OSError, UnicodeDecodeError):  # not written yet
                found[app] = f.read_text("ascii").strip()
        if len(found) == len(files) and all(v.endswith(".onion") for v in found.values()):
            return found
        if time.monotonic() > deadline:
            missing = ", ".join(str(f) for app, f in files.items() if app not in found)
            raise InstallError(
                f"tor did not write {missing} within {timeout:.0f} s. "
                "See why: journalctl -u tor@default -n 50"
            )
        time.sleep(0.5)
