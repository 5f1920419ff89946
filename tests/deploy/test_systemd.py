"""deploy/systemd: the units parse (systemd-analyze verify), are hardened, and agree with deploy/torrc.

`systemd-analyze verify` checks that ExecStart binaries exist, so the units are
rendered with /opt/tipline/venv/bin/ replaced by this venv's bin folder: the
only complaint expected from the files as shipped is that /opt/tipline/venv
does not exist here. It does not check that the user "tipline" exists, and
needs no running systemd (it is in Debian's systemd package).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time

import pytest

from .common import DEPLOY, need_tool
from .units import SYSTEMD, complaints, exposure, rendered, verify

UNITS = [
    "tipline-source.service",
    "tipline-journalist.service",
    "tipline-purge.service",
    "tipline-purge.timer",
]


def unit(name: str) -> str:
    return (SYSTEMD / name).read_text()


def settings(name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ln in unit(name).splitlines():
        if ln and not ln.startswith(("#", "[")):
            k, _, v = ln.partition("=")
            out.setdefault(k, []).append(v)
    return out


def render(tmp_path, text_for=unit):
    for name in UNITS:
        (tmp_path / name).write_text(rendered(text_for(name)))
    return [str(tmp_path / n) for n in UNITS]


def test_units_verify(analyze, tmp_path):
    r = verify(analyze, render(tmp_path))
    assert r.returncode == 0 and not complaints(r), r.stdout + r.stderr


def test_broken_unit_is_reported(analyze, tmp_path):
    def broken(name: str) -> str:
        return unit(name).replace("ProtectSystem=strict", "ProtectSystem=stricter\nProtectSystm=yes")

    r = verify(analyze, render(tmp_path, broken))
    out = r.stdout + r.stderr
    assert "protect system value" in out and "Unknown key 'ProtectSystm'" in out, out


@pytest.mark.parametrize("name", [u for u in UNITS if u.endswith(".service")])
def test_exposure_is_low(analyze, tmp_path, name):
    """systemd's own score of the sandbox: 0 is fully locked down, 10 is none. Ours is about 1.3."""
    render(tmp_path)
    score, report = exposure(analyze, tmp_path / name)
    assert score <= 2.0, report


# Each service: its user, and the private folder it must not see (docs/install.md's layout).
USERS = {
    "tipline-source.service": ("tipline-source", "/var/lib/tipline/journalist"),
    "tipline-journalist.service": ("tipline-journalist", "/var/lib/tipline/source"),
    "tipline-purge.service": ("tipline-journalist", "/var/lib/tipline/source"),
}


@pytest.mark.parametrize("name", [u for u in UNITS if u.endswith(".service")])
def test_hardening(name):
    s = settings(name)
    one = {k: v[-1] for k, v in s.items()}
    user, hidden = USERS[name]
    assert one["User"] == user and one["Group"] == "tipline"
    assert one["ProtectSystem"] == "strict"
    assert s["ReadWritePaths"] == ["/var/lib/tipline"]
    assert s["InaccessiblePaths"] == [hidden]
    for key in ("PrivateTmp", "NoNewPrivileges", "ProtectHome", "PrivateDevices", "MemoryDenyWriteExecute"):
        assert one[key] == "yes", key
    for key in ("ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups"):
        assert one[key] == "yes", key
    assert one["CapabilityBoundingSet"] == ""
    assert one["RestrictAddressFamilies"] == "AF_UNIX AF_INET AF_INET6"
    assert (one["IPAddressDeny"], one["IPAddressAllow"]) == ("any", "localhost")
    assert s["SystemCallFilter"][0] == "@system-service"
    assert (one["UMask"], one["LimitCORE"]) == ("0007", "0")


def test_apps_run_as_two_users():
    """Code execution in the source app must not reach the journalist app's secrets."""
    source, journalist = (settings(f"tipline-{a}.service") for a in ("source", "journalist"))
    assert source["User"] != journalist["User"]
    assert source["InaccessiblePaths"] == ["/var/lib/tipline/journalist"]
    assert journalist["InaccessiblePaths"] == ["/var/lib/tipline/source"]


def test_apps_match_torrc():
    """Each app listens where deploy/torrc sends its onion service, through deploy/gunicorn.conf.py."""
    torrc = (DEPLOY / "torrc").read_text()
    for app, port in (("source", 8080), ("journalist", 8081)):
        s = settings(f"tipline-{app}.service")
        env = dict(e.split("=", 1) for e in s["Environment"])
        assert env == {
            "TIPLINE_APP": app,
            "TIPLINE_DATA_DIR": "/var/lib/tipline",
            "TIPLINE_BIND": f"127.0.0.1:{port}",
        }
        assert s["ExecStart"] == ["/opt/tipline/venv/bin/gunicorn -c /etc/tipline/gunicorn.conf.py"]
        assert s["Restart"] == ["on-failure"]
        block = torrc.split(f"HiddenServiceDir /var/lib/tor/tipline-{app}\n", 1)[1].split(
            "HiddenServiceDir", 1
        )[0]
        assert f"HiddenServicePort 80 127.0.0.1:{port}\n" in block


def test_purge_timer():
    s = settings("tipline-purge.service")
    assert s["ExecStart"] == [
        "/opt/tipline/venv/bin/tipline purge --data-dir /var/lib/tipline --older-than 30d",
        "/opt/tipline/venv/bin/tipline log purge --data-dir /var/lib/tipline",
    ]
    t = settings("tipline-purge.timer")
    assert t["OnCalendar"] == ["daily"] and t["Persistent"] == ["true"]


@pytest.mark.parametrize("name", ["tipline-source.service", "tipline-journalist.service"])
def test_reload_works_on_a_minimal_image(name, tmp_path):
    """ExecReload runs only what every Debian has (an Essential package, not procps' /bin/kill),
    and really delivers SIGHUP to the main process, with no PATH to find any other kill."""
    dpkg_query = need_tool("dpkg-query", "a Debian system")
    (cmd,) = settings(name)["ExecReload"]
    argv = shlex.split(cmd)
    owner = subprocess.run([dpkg_query, "-S", argv[0]], capture_output=True, text=True, timeout=60)
    package = owner.stdout.strip().splitlines()[-1].split(":")[0]
    essential = subprocess.run(
        [dpkg_query, "-W", "-f=${Essential}", package], capture_output=True, text=True, timeout=60
    ).stdout
    assert essential == "yes", f"{argv[0]} is in {package}, which a minimal image may lack"

    got = tmp_path / "got-sighup"
    ready = tmp_path / "ready"
    main = subprocess.Popen(
        [sys.executable, "-c", SIGHUP_CATCHER, str(got), str(ready)], start_new_session=True
    )
    try:
        while not ready.exists():
            assert main.poll() is None
            time.sleep(0.05)
        # systemd replaces a word "$MAINPID" itself, and puts MAINPID in the reload's environment.
        argv = [str(main.pid) if a in ("$MAINPID", "${MAINPID}") else a for a in argv]
        r = subprocess.run(argv, env={"MAINPID": str(main.pid)}, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert main.wait(30) == 0 and got.read_text() == "HUP"
    finally:
        if main.poll() is None:
            main.kill()
            main.wait()


SIGHUP_CATCHER = """
import signal, sys, time
from pathlib import Path
def hup(*_):
    Path(sys.argv[1]).write_text("HUP")
    sys.exit(0)
signal.signal(signal.SIGHUP, hup)
Path(sys.argv[2]).write_text("")
time.sleep(60)
sys.exit(1)
"""
