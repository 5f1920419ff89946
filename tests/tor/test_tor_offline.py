"""`tipline onion client-auth --install` on a tor with no network at all, as in tests/system's container.

deploy/torrc's tor runs, network enabled, in this module's network namespace, which has only
loopback: it tries the real Tor network's relays and never reaches one. The command must stop
early with its Unconfirmed outcome (the key in place, both halves handed out, exit 1) and say that
tor is not connected, instead of waiting out its minute for a descriptor tor cannot build. The
private Tor network's tests (test_client_auth.py) prove it still waits for, and confirms, a tor on
the network.
"""

from __future__ import annotations

import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.common import control_socket, render_torrc, tipline, tor_cmd
from tests.tor.harness import interfaces
from tipline.ops.tor_network import sample
from tipline.ops.torcontrol import TorControl, TorControlError


@pytest.fixture(scope="module")
def offline_tor(netns, tmp_path_factory) -> Iterator[Path]:
    """deploy/torrc's tor in a namespace with no route anywhere; the journalist service's folder."""
    netns.check_inside()
    assert interfaces() == ["lo"]  # nothing but loopback: tor cannot reach any network from here
    base = tmp_path_factory.mktemp("offline-tor")
    torrc, _src, jour = render_torrc(base)
    log = base / "notice.log"
    proc = subprocess.Popen(
        tor_cmd("tor", torrc, base / "tor-data", "--Log", f"notice file {log}"),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with TorControl(control_socket(base)):
                    if (jour / "hostname").exists():
                        break
            except TorControlError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the offline tor did not start:\n{log.read_text() if log.exists() else ''}")
            time.sleep(0.2)
        yield jour
    finally:
        proc.terminate()
        proc.wait(10)


def test_offline_tor_reports_no_network(offline_tor):
    with TorControl(control_socket(offline_tor.parent)) as tor:
        s = sample(tor)
    assert s is not None and not s.connected and s.progress < 100, s


def test_client_auth_install_stops_early_on_an_offline_tor(offline_tor, tmp_path):
    r = tipline(
        "onion", "client-auth", "dee", "--install", "--hs-dir", str(offline_tor),
        "--control-socket", str(control_socket(offline_tor.parent)), "--out", str(tmp_path / "keys"),
    )  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "tor is not connected to the Tor network" in r.stderr, r.stderr
    assert "so it cannot confirm the key yet" in r.stderr and "run tipline onion reload" in r.stderr
    assert "after 60 s" not in r.stderr  # the early stop, not the deadline
    # The Unconfirmed outcome: the key tor now holds, and both halves handed out.
    installed = offline_tor / "authorized_clients" / "dee.auth"
    assert installed.read_text() == (tmp_path / "keys" / "dee.auth").read_text()
    assert stat.S_IMODE(installed.stat().st_mode) == 0o600
    assert "tor reloaded, but has not confirmed" in r.stdout
    private = (tmp_path / "keys" / "dee.auth_private").read_text().strip()
    assert private in r.stdout
