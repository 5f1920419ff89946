"""deploy/systemd's notify unit, timer and direct drop-in: they parse, and only that unit may send.

Rendered as tests/deploy/test_systemd.py renders the others (the venv's bin for
/opt/tipline/venv/bin), then checked by `systemd-analyze verify` and `security`
through the same helpers (tests/deploy/units.py).
"""

from __future__ import annotations

import re
import subprocess

from .units import SYSTEMD, complaints, exposure, rendered, verify

NOTIFY = "tipline-notify.service"
DROP_IN = SYSTEMD / "drop-in" / "tipline-notify-direct.conf"


def values(*texts: str) -> dict[str, list[str]]:
    """KEY=VALUE lines of unit texts read in order, an empty value resetting the list (as systemd)."""
    out: dict[str, list[str]] = {}
    for text in texts:
        for ln in text.splitlines():
            if ln and not ln.startswith(("#", "[")):
                k, _, v = ln.partition("=")
                if v == "":
                    out[k] = []
                else:
                    out.setdefault(k, []).append(v)
    return out


def render_all(tmp_path, drop_in: str | None = None) -> list[str]:
    """Every shipped unit into TMP_PATH, with the notify drop-in (if given) where systemd looks for it."""
    names = sorted(p.name for p in SYSTEMD.glob("tipline-*"))
    for name in names:
        (tmp_path / name).write_text(rendered((SYSTEMD / name).read_text()))
    if drop_in is not None:
        (tmp_path / f"{NOTIFY}.d").mkdir()
        (tmp_path / f"{NOTIFY}.d" / "direct.conf").write_text(drop_in)
    return [str(tmp_path / n) for n in names]


def test_notify_units_are_shipped_and_verify(analyze, tmp_path):
    files = render_all(tmp_path)
    assert {f"{tmp_path}/{NOTIFY}", f"{tmp_path}/tipline-notify.timer"} <= set(files)
    r = verify(analyze, files)
    assert r.returncode == 0 and not complaints(r), r.stdout + r.stderr


def test_direct_drop_in_verifies_and_is_read(analyze, tmp_path):
    """The drop-in is valid; and systemd-analyze really reads it (a broken copy is reported)."""
    r = verify(analyze, render_all(tmp_path, DROP_IN.read_text()))
    assert r.returncode == 0 and not complaints(r), r.stdout + r.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    r = verify(analyze, render_all(broken, DROP_IN.read_text().replace("IPAddressAllow", "IPAdressAllow")))
    assert "Unknown key 'IPAdressAllow'" in r.stdout + r.stderr, r.stdout + r.stderr


def test_notify_exposure_is_low(analyze, tmp_path):
    render_all(tmp_path)
    score, report = exposure(analyze, tmp_path / NOTIFY)
    assert score <= 2.0, report


def test_only_the_notify_unit_may_send():
    """Every other service keeps IPAddressDeny=any (loopback at most) and stays out of debian-tor."""
    services = sorted(SYSTEMD.glob("tipline-*.service"))
    assert {p.name for p in services} >= {"tipline-source.service", "tipline-journalist.service", NOTIFY}
    for path in services:
        if path.name == NOTIFY:
            continue
        s = values(path.read_text())
        assert s["IPAddressDeny"] == ["any"], path.name
        assert s.get("IPAddressAllow", []) in ([], ["localhost"]), path.name
        assert "SupplementaryGroups" not in s, path.name


def test_notify_unit_has_no_ip_with_tor_and_all_of_it_direct():
    base = (SYSTEMD / NOTIFY).read_text()
    s = values(base)
    one = {k: v[-1] if v else "" for k, v in s.items()}
    # route = "tor": unix sockets only, no address at all, Tor's socket group, the journalist side's user.
    assert (one["RestrictAddressFamilies"], one["IPAddressDeny"], one["PrivateNetwork"]) == (
        "AF_UNIX",
        "any",
        "yes",
    )
    assert "IPAddressAllow" not in s
    assert (one["User"], one["Group"], one["SupplementaryGroups"]) == (
        "tipline-journalist",
        "tipline",
        "debian-tor",
    )
    assert s["ExecStart"] == ["/opt/tipline/venv/bin/tipline notify --data-dir /var/lib/tipline"]
    assert one["Type"] == "oneshot"
    # Only its own state and the accounts database are writable; the source app's folder is not there.
    assert s["ReadWritePaths"] == ["/var/lib/tipline/journalist"]
    assert s["InaccessiblePaths"] == ["/var/lib/tipline/source"]
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices", "MemoryDenyWriteExecute"):
        assert one[key] == "yes", key
    assert (one["ProtectSystem"], one["CapabilityBoundingSet"], one["LimitCORE"]) == ("strict", "", "0")
    # route = "direct": the drop-in opens IP, and nothing else.
    d = values(DROP_IN.read_text())
    assert d == {
        "PrivateNetwork": ["no"],
        "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"],
        "IPAddressAllow": ["any"],
    }
    assert "WARNING" in DROP_IN.read_text() and "server's own IP address" in DROP_IN.read_text()


def test_timer_is_hourly(analyze):
    t = values((SYSTEMD / "tipline-notify.timer").read_text())
    assert t["OnCalendar"] == ["hourly"] and t["Persistent"] == ["true"]
    assert t["WantedBy"] == ["timers.target"] and "Unit" not in t  # so it starts tipline-notify.service
    delay = subprocess.run(
        [analyze, "timespan", t["RandomizedDelaySec"][0]], capture_output=True, text=True, timeout=60
    )
    micros = int(re.search(r"μs: (\d+)", delay.stdout).group(1))
    assert 0 < micros <= 10 * 60 * 10**6, delay.stdout  # jitter of minutes, never hours
    cal = subprocess.run([analyze, "calendar", "hourly"], capture_output=True, text=True, timeout=60)
    assert "Normalized form: *-*-* *:00:00" in cal.stdout, cal.stdout


def test_install_leaves_the_drop_in_out_unless_the_route_is_direct():
    """`tipline install` writes every unit and timer of systemd/ to /etc/systemd/system/, and the drop-in
    only for route = "direct" (tests/ops/test_install.py runs it on a fake root)."""
    from tipline.ops.install_files import DROP_IN as INSTALLED_DROP_IN
    from tipline.ops.install_files import UNIT_DIR, planned

    units = sorted(p.name for p in SYSTEMD.glob("tipline-*"))
    assert all((SYSTEMD / u).suffix in (".service", ".timer") for u in units), units
    written = {p.path for p in planned()}
    assert {UNIT_DIR / u for u in units} <= written and INSTALLED_DROP_IN not in written
    direct = {p.path: p.data for p in planned(direct=True)}
    assert DROP_IN.exists() and direct[INSTALLED_DROP_IN] == DROP_IN.read_bytes()
