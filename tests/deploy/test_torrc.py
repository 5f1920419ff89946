"""deploy/torrc: Tor itself accepts it (rendered for this machine), and refuses a broken copy."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.conftest import run_tipline

from .common import (
    DEPLOY,
    TORRC_JOURNALIST_DIR,
    TORRC_JOURNALIST_TARGET,
    TORRC_RUN_DIR,
    TORRC_SOURCE_DIR,
    TORRC_SOURCE_TARGET,
    need_tool,
    render_torrc,
    stop,
    tipline,
    tor_cmd,
)


@pytest.fixture
def tor() -> str:
    return need_tool("tor")


def verify(tor: str, torrc, data, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*tor_cmd(tor, torrc, data, *extra), "--verify-config"], capture_output=True, text=True, timeout=60
    )


def options(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_substitution_rule_holds():
    """Each string of the documented substitution rule is on exactly one option line."""
    lines = options((DEPLOY / "torrc").read_text())
    for s in (TORRC_SOURCE_DIR, TORRC_JOURNALIST_DIR, TORRC_SOURCE_TARGET, TORRC_JOURNALIST_TARGET):
        assert len([ln for ln in lines if s in ln]) == 1, s
    assert [ln.split()[0] for ln in lines if TORRC_RUN_DIR in ln] == [
        "SocksPort",
        "ControlSocket",
        "CookieAuthFile",
    ]
    # Nothing else names a path or a local address that a rendering would miss.
    others = [ln for ln in lines if re.search(r"/|127\.0\.0\.1|localhost", ln)]
    assert len(others) == 7, others


def test_rendered_torrc_is_valid(tor, tmp_path):
    torrc, _, _ = render_torrc(tmp_path)
    text = torrc.read_text()
    assert not [ln for ln in options(text) if re.search(r"/var/lib/tor|/run/tor|:808[01]\b", ln)]
    r = verify(tor, torrc, tmp_path / "tor-data")
    assert r.returncode == 0 and "Configuration was valid" in r.stdout, r.stdout + r.stderr
    # The options the threat model relies on are really there, for both services.
    opts = options(text)
    # The one SOCKS listener is tipline notify's unix socket (no TCP port).
    assert [o for o in opts if o.startswith("SocksPort")] == [
        f"SocksPort unix:{tmp_path}/run/socks GroupWritable RelaxDirModeCheck"
    ]
    assert "SafeLogging 1" in opts
    assert opts.count("HiddenServicePoWDefensesEnabled 1") == 2


@pytest.mark.parametrize(
    "old, new",
    [
        ("HiddenServicePoWDefensesEnabled 1", "HiddenServicePoWDefenceEnabled 1"),  # misspelt option
        ("HiddenServicePort 80 127.0.0.1:18080", "HiddenServicePort 80 127.0.0.1:port"),  # bad target
        ("HiddenServiceMaxStreams 64", "HiddenServiceMaxStreams lots"),  # bad value
    ],
)
def test_broken_copy_is_rejected(tor, tmp_path, old, new):
    torrc, _, _ = render_torrc(tmp_path)
    text = torrc.read_text()
    assert old in text
    torrc.write_text(text.replace(old, new, 1))
    r = verify(tor, torrc, tmp_path / "tor-data")
    assert r.returncode != 0, r.stdout


def run_tor_until(tor: str, torrc, tmp_path, log, done, *extra: str) -> str:
    """Run tor with its network disabled (it contacts nobody) until DONE(log text) holds."""
    proc = subprocess.Popen(
        tor_cmd(
            tor, torrc, tmp_path / "tor-data", "--DisableNetwork", "1", "--Log", f"info file {log}", *extra
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            text = log.read_text() if log.exists() else ""
            assert "[warn] Client authorization" not in text, text
            if done(text):
                return text
            assert proc.poll() is None, text
            assert time.monotonic() < deadline, text
            time.sleep(0.1)
    finally:
        stop(proc)


def test_client_auth_files_load_in_tor(tor, tmp_path):
    """Tor makes both services and loads the key files `tipline onion client-auth` writes,
    on the service side and on the client side."""
    torrc, src, jour = render_torrc(tmp_path)
    keys = tmp_path / "keys"
    r = tipline("onion", "client-auth", "ana", "--out", str(keys), "--hs-dir", str(tmp_path / "none"))
    assert r.returncode == 1 and "Cannot read an onion address" in r.stderr
    r = tipline("onion", "client-auth", "ana", "--out", str(keys))
    assert r.returncode == 0, r.stderr
    (jour / "authorized_clients").mkdir(mode=0o700)
    (jour / "authorized_clients" / "ana.auth").write_bytes((keys / "ana.auth").read_bytes())
    run_tor_until(
        tor,
        torrc,
        tmp_path,
        tmp_path / "tor.log",
        lambda text: (
            (src / "hostname").exists()
            and (jour / "hostname").exists()
            and "Loaded a client authorization key file ana.auth." in text
        ),
    )

    # The client side: the address read from the service's folder, as an admin would.
    r = tipline("onion", "client-auth", "bob", "--hs-dir", str(jour), "--out", str(keys))
    assert r.returncode == 0, r.stderr
    onion = (jour / "hostname").read_text().strip().removesuffix(".onion")
    assert (keys / "bob.auth_private").read_text().startswith(f"{onion}:descriptor:x25519:")
    client_dir = tmp_path / "client-auth"
    client_dir.mkdir(mode=0o700)
    (client_dir / "bob.auth_private").write_bytes((keys / "bob.auth_private").read_bytes())
    run_tor_until(
        tor,
        torrc,
        tmp_path,
        tmp_path / "client.log",
        lambda text: "Loaded a client authorization key file bob.auth_private." in text,
        "--ClientOnionAuthDir",
        str(client_dir),
    )


def test_offline_tor_has_no_descriptor_yet(tor, tmp_path):
    """A tor that is not on the network answers 551 "Not found in cache" for its own service's
    descriptor: that is "none built yet" (a warning for the doctor, a wait for client-auth), not an
    error. Found when the install ran in tests/system's offline container."""
    from tipline.ops.doctor_tor import _one
    from tipline.ops.onion_live import current
    from tipline.ops.torcontrol import TorControl

    from .common import control_socket

    torrc, _, jour = render_torrc(tmp_path)
    proc = subprocess.Popen(
        tor_cmd(tor, torrc, tmp_path / "tor-data", "--DisableNetwork", "1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not ((jour / "hostname").exists() and control_socket(tmp_path).exists()):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        label = (jour / "hostname").read_text().strip().removesuffix(".onion")
        with TorControl(control_socket(tmp_path)) as t:
            assert current(t, label).descriptor is None
            findings = _one(t, jour)
        assert [f.level for f in findings] == ["warning"], findings
        assert "no descriptor for the journalist onion" in findings[0].text
        # client-auth --install cannot confirm, but still hands out the private half of the key
        # it gave tor: otherwise tor would trust a key that nobody holds.
        out = tmp_path / "auth"
        r = run_tipline(
            "onion", "client-auth", "dee", "--install", "--wait", "2", "--hs-dir", str(jour),
            "--control-socket", str(control_socket(tmp_path)), "--out", str(out), check=False,
        )  # fmt: skip
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert "has built no descriptor for it" in r.stderr and "tipline onion reload" in r.stderr
        server = (jour / "authorized_clients" / "dee.auth").read_text().strip()
        assert (out / "dee.auth").read_text().strip() == server
        private = (out / "dee.auth_private").read_text().strip()
        assert private.startswith(f"{label}:descriptor:x25519:") and private.split(":")[-1] in r.stdout
        assert "has not confirmed" in r.stdout
    finally:
        stop(proc)
