"""Client authorization as the running tor enforces it, on the private Tor network (harness.py).

A key file in authorized_clients/ proves nothing until tor has loaded it: a
reload can fail without anyone noticing (on a minimal image, tor@default's
`ExecReload=/bin/kill` fails while `systemctl reload tor` exits 0). So:
`tipline onion client-auth --install` reloads tor over deploy/torrc's
control socket and confirms from tor's own descriptor that the new key
works, and `tipline doctor` fails whenever the running tor serves the
journalist onion without client authorization, whatever files exist.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import time
from pathlib import Path

import pytest

from tests.deploy.common import tipline

from .harness import MISSING_CLIENT_AUTH, SocksError, onion_request

PUBLIC = "serves the journalist onion"  # ... {label}.onion WITHOUT client authorization


def doctor(site) -> tuple[int, list[str]]:
    """`tipline doctor --torrc` on the service's torrc: exit status, and its lines about the running tor."""
    r = tipline("doctor", "--data-dir", str(site.source.data_dir), "--torrc", str(site.service.torrc))
    about_tor = [
        ln
        for ln in r.stdout.splitlines()
        if "WITHOUT client authorization" in ln
        or "control socket" in ln
        or "Tor has no descriptor" in ln
        or "Cannot ask tor" in ln
    ]
    return r.returncode, about_tor


def doctor_until(site, done, timeout: float = 30) -> list[str]:
    """Run the doctor until DONE(lines about tor) holds (tor rebuilds its descriptor within a second)."""
    deadline = time.monotonic() + timeout
    while True:
        _code, lines = doctor(site)
        if done(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


def keyless_client_is_refused(site) -> None:
    deadline = time.monotonic() + 60
    while True:
        with pytest.raises(SocksError) as refused:
            onion_request(site.client.socks_port, site.journalist_onion, "GET", "/login")
        if refused.value.code == MISSING_CLIENT_AUTH or time.monotonic() > deadline:
            break
        time.sleep(1)  # e.g. 0xF0 while the descriptor is fetched: ask again
    assert refused.value.code == MISSING_CLIENT_AUTH, refused.value


def test_client_auth_install_reloads_tor_and_confirms(tor_site, tmp_path):
    jour = tor_site.journalist_dir
    r = tipline(
        "onion", "client-auth", "bea", "--install", "--hs-dir", str(jour),
        "--control-socket", str(tor_site.control_socket), "--out", str(tmp_path / "keys"),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tor reloaded, and it now serves the journalist" in r.stdout
    assert "this key among them (confirmed from its descriptor)" in r.stdout
    installed = jour / "authorized_clients" / "bea.auth"
    assert installed.read_text() == (tmp_path / "keys" / "bea.auth").read_text()
    st, hs = installed.stat(), jour.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and (st.st_uid, st.st_gid) == (hs.st_uid, hs.st_gid)
    assert not list((jour / "authorized_clients").glob(".*")), "no temporary file left"

    # A new Tor client holding only bea's key is served; one without a key is still refused.
    auth_dir = tmp_path / "bea-client-auth"
    auth_dir.mkdir(mode=0o700)
    shutil.copy(tmp_path / "keys" / "bea.auth_private", auth_dir / "bea.auth_private")
    bea = tor_site.add_client("bea-client", auth_dir)
    tor_site.wait_for_page(bea, tor_site.journalist_onion, "/login")
    r = onion_request(bea.socks_port, tor_site.journalist_onion, "GET", "/login")
    assert r.status == 200 and b"Journalist login" in r.body
    keyless_client_is_refused(tor_site)

    # The same name again changes nothing.
    again = tipline(
        "onion", "client-auth", "bea", "--install", "--hs-dir", str(jour),
        "--control-socket", str(tor_site.control_socket),
    )  # fmt: skip
    assert again.returncode == 1 and "bea.auth already exists" in again.stderr, again.stderr
    assert installed.read_text() == (tmp_path / "keys" / "bea.auth").read_text()


def test_client_auth_install_writes_nothing_when_tor_does_not_answer(tor_site, tmp_path):
    r = tipline(
        "onion", "client-auth", "cy", "--install", "--hs-dir", str(tor_site.journalist_dir),
        "--control-socket", str(tmp_path / "no-such-socket"),
    )  # fmt: skip
    assert r.returncode == 1 and "Cannot connect to tor's control socket" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert not (tor_site.journalist_dir / "authorized_clients" / "cy.auth").exists()


def test_doctor_checks_what_the_running_tor_enforces(tor_site, tmp_path):
    jour_auth = tor_site.journalist_dir / "authorized_clients"
    _code, lines = doctor(tor_site)
    assert lines == [], lines  # tor loaded the keys at start: it enforces them

    # Every key removed, and tor reloaded (as systemd's reload would, with a signal): public.
    saved = tmp_path / "saved-auth"
    shutil.copytree(jour_auth, saved)
    for p in jour_auth.iterdir():
        p.unlink()
    os.kill(tor_site.service.proc.pid, signal.SIGHUP)
    lines = doctor_until(tor_site, lambda ls: any(PUBLIC in ln for ln in ls))
    assert len(lines) == 1 and lines[0].startswith("problem: The running tor serves the journalist onion")
    assert "WITHOUT client authorization" in lines[0] and "tipline onion reload" in lines[0]

    # The key files back, but tor not reloaded: the files look right, and the doctor still fails.
    for p in saved.iterdir():
        shutil.copy(p, jour_auth / p.name)
    code, lines = doctor(tor_site)
    assert code == 1 and len(lines) == 1 and "WITHOUT client authorization" in lines[0], lines

    # `tipline onion reload` reloads tor over the control socket and says it now enforces them.
    r = tipline(
        "onion", "reload", "--hs-dir", str(tor_site.journalist_dir),
        "--control-socket", str(tor_site.control_socket),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "serves the journalist onion only to clients holding an authorized key" in r.stdout
    assert doctor_until(tor_site, lambda ls: ls == []) == []


def test_doctor_without_a_control_socket_is_a_problem(tor_site, tmp_path):
    torrc = tmp_path / "torrc"
    text = tor_site.service.torrc.read_text()
    torrc.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("ControlSocket ")) + "\n")
    r = tipline("doctor", "--data-dir", str(tor_site.source.data_dir), "--torrc", str(torrc))
    assert r.returncode == 1 and f"{torrc} has no ControlSocket, so nothing can check" in r.stdout, r.stdout


def test_source_descriptor_is_public_and_journalist_descriptor_is_not(tor_site):
    """The descriptor check itself, on both services of the same tor: it tells them apart."""
    from tipline.ops.onion_live import current
    from tipline.ops.torcontrol import TorControl

    with TorControl(Path(tor_site.control_socket)) as tor:
        source = current(tor, tor_site.source_onion.removesuffix(".onion"))
        journalist = current(tor, tor_site.journalist_onion.removesuffix(".onion"))
    assert source.public and not journalist.public
