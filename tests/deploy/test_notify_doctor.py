"""`tipline doctor`'s notification checks (tipline.ops.doctor_notify) on real files, units and sockets.

The good case is deploy/ as shipped (torrc rendered for this machine, the units
copied as they are); each broken case changes one thing and must give exactly
the problem, or the warning, that names it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tipline.ops.doctor import check_torrc
from tipline.ops.doctor_notify import DIRECT_RISK, check_notify

from .common import DEPLOY, render_torrc
from .test_doctor import GROUP, JOUR, people  # noqa: F401  (the fixture: real users of our own)


@pytest.fixture
def site(tmp_path, people) -> Path:  # noqa: F811
    """deploy/ on this machine: torrc (its SOCKS socket is SITE/run/socks), units, a credentials file."""
    render_torrc(tmp_path)
    units = tmp_path / "units"
    units.mkdir()
    for p in (DEPLOY / "systemd").glob("tipline-*"):
        shutil.copy(p, units / p.name)
    creds = tmp_path / "smtp-credentials"
    creds.write_text("tipline@example.org\nhunter2-but-long\n")
    os.chown(creds, people[1], people[2])
    creds.chmod(0o600)
    return tmp_path


def settings(site: Path, notify: str) -> Path:
    f = site / "tipline.toml"
    f.write_text(f'onion_address = "x"\n\n[notify]\n{notify}\n')
    return f


def smtp(site: Path, security: str = "starttls") -> str:
    return (
        f'tor_socks = "{site}/run/socks"\n\n[notify.smtp]\nhost = "mail.example.org"\nport = 587\n'
        f'security = "{security}"\nfrom = "tips@example.org"\nto = ["desk@example.org"]\n'
        f'credentials_file = "{site}/smtp-credentials"\n'
    )


@contextlib.contextmanager
def tor_socket(site: Path, mode: int = 0o660, gid: int | None = None) -> Iterator[None]:
    """A real listening unix socket where the rendered torrc puts tor's (as tor would make it)."""
    path = site / "run" / "socks"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        s.listen()
        os.chmod(path, mode)
        if gid is not None:
            os.chown(path, 0, gid)
        try:
            yield
        finally:
            path.unlink()


def check(site: Path, toml: Path) -> list[str]:
    return [str(f) for f in check_notify(toml, site / "torrc", site / "units", JOUR)]


def test_nothing_to_check_without_notify(site):
    (site / "tipline.toml").write_text('onion_address = "x"\n')
    assert check_notify(site / "tipline.toml", site / "torrc", site / "units", JOUR) == []


def test_shipped_deployment_with_tor_passes(site):
    with tor_socket(site):
        assert check(site, settings(site, smtp(site))) == []
    assert [str(f) for f in check_torrc(site / "torrc") if "SocksPort" in f.text] == []


def test_tor_not_running_is_a_warning(site):
    (found,) = check(site, settings(site, smtp(site)))
    assert found.startswith(f"warning: There is no SOCKS socket at {site}/run/socks"), found


def test_direct_is_a_warning_naming_the_risk_and_needs_the_drop_in(site):
    toml = settings(site, 'route = "direct"')
    found = check(site, toml)
    assert found[0] == f"warning: {toml}: {DIRECT_RISK}"
    assert "learns where the onion service runs" in found[0]
    assert len(found) == 2 and found[1].startswith('problem: [notify] route = "direct", but'), found
    assert "tipline-notify-direct.conf" in found[1]
    (site / "units" / "tipline-notify.service.d").mkdir()
    shutil.copy(
        DEPLOY / "systemd/drop-in/tipline-notify-direct.conf",
        site / "units/tipline-notify.service.d/direct.conf",
    )
    assert check(site, toml) == [f"warning: {toml}: {DIRECT_RISK}"]
    # A drop-in of one's own that opens IPAddressAllow but leaves the unit's empty network namespace.
    (site / "units/tipline-notify.service.d/direct.conf").write_text("[Service]\nIPAddressAllow=any\n")
    assert check(site, toml)[1].startswith('problem: [notify] route = "direct", but'), check(site, toml)


def test_drop_in_left_with_tor_route_is_a_problem(site):
    (site / "units" / "tipline-notify.service.d").mkdir()
    shutil.copy(
        DEPLOY / "systemd/drop-in/tipline-notify-direct.conf",
        site / "units/tipline-notify.service.d/direct.conf",
    )
    with tor_socket(site):
        (found,) = check(site, settings(site, smtp(site)))
    assert 'allows IP egress, but route = "tor" needs none' in found and "direct.conf" in found, found


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("IPAddressDeny=any\n", "", "tipline-source.service lets its app reach the network"),
        ("IPAddressAllow=localhost\n", "IPAddressAllow=any\n", "tipline-source.service lets its app reach"),
        (
            "LimitCORE=0\n",
            "LimitCORE=0\nSupplementaryGroups=debian-tor\n",
            "tipline-source.service joins the group debian-tor",
        ),
    ],
)
def test_other_unit_that_may_send_is_a_problem(site, old, new, expected):
    unit = site / "units" / "tipline-source.service"
    assert old in unit.read_text()
    unit.write_text(unit.read_text().replace(old, new, 1))
    with tor_socket(site):
        (found,) = check(site, settings(site, smtp(site)))
    assert expected in found, found


def test_notify_unit_missing_or_out_of_debian_tor(site):
    unit = site / "units" / "tipline-notify.service"
    unit.write_text(unit.read_text().replace("SupplementaryGroups=debian-tor\n", ""))
    with tor_socket(site):
        (found,) = check(site, settings(site, smtp(site)))
        assert "is not in the group debian-tor, so it cannot use Tor's SOCKS socket" in found
        unit.unlink()
        (found,) = check(site, settings(site, smtp(site)))
    assert f"There is no {unit}: nothing sends notifications" in found


def test_torrc_without_the_socket(site):
    torrc = site / "torrc"
    line = f"\nSocksPort unix:{site}/run/socks GroupWritable RelaxDirModeCheck\n"
    torrc.write_text(torrc.read_text().replace(line, "\nSocksPort 0\n"))
    with tor_socket(site):
        (found,) = check(site, settings(site, smtp(site)))
    assert "opens no SocksPort there: every notification would fail" in found, found
    torrc.write_text(torrc.read_text().replace("\nSocksPort 0\n", f"\nSocksPort unix:{site}/run/socks\n"))
    with tor_socket(site):
        (found,) = check(site, settings(site, smtp(site)))
    assert "is not GroupWritable, so tipline-notify (group debian-tor) cannot connect" in found, found


def test_world_writable_socket(site):
    torrc = site / "torrc"
    torrc.write_text(
        torrc.read_text().replace("GroupWritable RelaxDirModeCheck", "WorldWritable RelaxDirModeCheck")
    )
    (found,) = [str(f) for f in check_torrc(torrc) if "SocksPort" in f.text]
    assert "lets every user on the server reach the network through Tor" in found, found
    with tor_socket(site, 0o666):
        found = check(site, settings(site, smtp(site)))
    assert any(f"{site}/run/socks is world-writable" in f for f in found), found


def test_tcp_socks_is_a_problem(site):
    found = check(site, settings(site, 'tor_socks = "127.0.0.1:9050"'))
    assert len(found) == 1 and "tor_socks = '127.0.0.1:9050' is a TCP address" in found[0], found


def test_tipline_user_in_the_socket_group(site, people):  # noqa: F811
    """The socket's group is that of the apps' users (tipline-t): then the apps could send through it."""
    with tor_socket(site, gid=people[2]):
        (found,) = check(site, settings(site, smtp(site)))
    assert f"in the group {GROUP}, which may use Tor's SOCKS socket" in found, found


@pytest.mark.parametrize("security", ["none", "plain"])
def test_plain_smtp_is_a_problem(site, security):
    with tor_socket(site):
        (found,) = check(site, settings(site, smtp(site, security)))
    assert f"security = '{security}' sends the password and the message in clear" in found, found


def test_credentials_file_mode_and_owner(site):
    creds = site / "smtp-credentials"
    creds.chmod(0o640)
    with tor_socket(site):
        (found,) = check(site, settings(site, smtp(site)))
        assert f"{creds} is mode 0640" in found and f"chmod 0600 {creds}" in found, found
        creds.chmod(0o600)
        os.chown(creds, 0, 0)
        (found,) = check(site, settings(site, smtp(site)))
        assert f"{creds} is owned by root, but tipline notify runs as {JOUR}" in found, found
        creds.unlink()
        (found,) = check(site, settings(site, smtp(site)))
    assert f"The SMTP credentials file {creds} does not exist" in found, found


def test_unknown_route(site):
    toml = settings(site, 'route = "smoke-signals"')
    assert check(site, toml) == [
        f'problem: {toml}: [notify] route = \'smoke-signals\': write "tor" (the default) or "direct".'
    ]


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://ntfy.example.org/secret-topic", True),
        ("http://" + "a" * 56 + ".onion/hook", True),
        ("http://ntfy.example.org/secret-topic", False),
        ("ftp://example.org/x", False),
    ],
)
def test_webhook_must_be_https_or_onion(site, url, ok):
    with tor_socket(site):
        found = check(
            site, settings(site, f'tor_socks = "{site}/run/socks"\n\n[notify.webhook]\nurl = "{url}"\n')
        )
    if ok:
        assert found == []
    else:
        (line,) = found
        assert "is not HTTPS: a Tor exit or the network on the way reads the notification" in line, line
        assert "secret-topic" not in line  # the path may be the receiver's secret: not printed
