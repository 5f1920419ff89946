"""`tipline doctor`: a good deployment passes; each broken one is caught with a specific message."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tipline.format.keys import SecretKey

from .common import DEPLOY, add_key, onion_address, render_torrc, tipline

PASSPHRASE = "correct horse battery staple tipline doctor test\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A good deployment, made once with the real commands: copied for each test."""
    base = tmp_path_factory.mktemp("deployment")
    data = base / "data"
    add_key(data)
    (base / "pass.txt").write_text(PASSPHRASE)
    r = tipline(
        "journalist", "add", "ana", "--data-dir", str(data), "--passphrase-file", str(base / "pass.txt")
    )
    assert r.returncode == 0, r.stderr
    assert tipline("purge", "--data-dir", str(data), "--older-than", "30d").returncode == 0  # makes store/
    fd = os.open(data / "csrf.secret", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    fd = os.open(data / "tipline.toml", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, f'onion_address = "{onion_address()}.onion"\nbind = "127.0.0.1:8080"\n'.encode())
    os.close(fd)
    _torrc, _src, jour = render_torrc(base)
    (jour / "authorized_clients").mkdir(mode=0o700)
    r = tipline(
        "onion", "client-auth", "ana", "--onion-address", onion_address(), "--out", str(base / "auth")
    )
    assert r.returncode == 0, r.stderr
    shutil.copy(base / "auth" / "ana.auth", jour / "authorized_clients" / "ana.auth")
    return base


@pytest.fixture
def site(template, tmp_path) -> Path:
    base = tmp_path / "site"
    shutil.copytree(template, base, symlinks=True)
    # The torrc names the template's folders: point it at this copy's.
    torrc = base / "torrc"
    torrc.write_text(torrc.read_text().replace(str(template), str(base)))
    return base


def doctor(site: Path, *extra: str):
    return tipline(
        "doctor",
        "--data-dir",
        str(site / "data"),
        "--torrc",
        str(site / "torrc"),
        "--gunicorn-conf",
        str(DEPLOY / "gunicorn.conf.py"),
        *extra,
    )


def problems(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith("problem: ")]


def test_good_deployment_passes(site):
    r = doctor(site)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "tipline doctor: all checks passed (0 warning(s))."


def test_missing_onion_address_is_only_a_warning(site):
    (site / "data" / "tipline.toml").write_text('bind = "127.0.0.1:8080"\n')
    r = doctor(site)
    assert r.returncode == 0 and "warning: onion_address is not set" in r.stdout, r.stdout


def sub(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def chmod(rel: str, mode: int) -> Callable[[Path], None]:
    return lambda site: os.chmod(site / rel, mode)


def plant_key(rel: str, name_only: bool = False) -> Callable[[Path], None]:
    def do(site: Path) -> None:
        p = site / "data" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(
            "just a name" if name_only else SecretKey.generate().to_text(b"pw", opslimit=1, memlimit=8192)
        )

    return do


def no_keys(site: Path) -> None:
    for p in (site / "data" / "keys").glob("*.pub"):
        p.unlink()


def no_journalists(site: Path) -> None:
    con = sqlite3.connect(site / "data" / "journalist" / "accounts.db")
    con.execute("DELETE FROM journalists")
    con.commit()
    con.close()


def no_client_auth(site: Path) -> None:
    for p in (site / "hs-journalist" / "authorized_clients").iterdir():
        p.unlink()


def gunicorn_conf_with_access_log(site: Path) -> None:
    conf = site / "gunicorn.conf.py"
    conf.write_text((DEPLOY / "gunicorn.conf.py").read_text() + '\naccesslog = "-"\n')


# Each case: how to break the good deployment, and the problems expected (each a tuple of
# strings that one line must contain). Nothing else may be reported.
CASES = {
    "world-readable data dir": (chmod("data", 0o755), [("data is mode 0755", "Fix: chmod 700")]),
    "group-readable keys dir": (chmod("data/keys", 0o750), [("keys is mode 0750", "Fix: chmod 700")]),
    "readable database": (
        chmod("data/tipline.sqlite3", 0o644),
        [("tipline.sqlite3 is mode 0644", "chmod 600")],
    ),
    "readable csrf secret": (chmod("data/csrf.secret", 0o640), [("csrf.secret is mode 0640", "chmod 600")]),
    ".key file": (
        plant_key("journalist.key"),
        [("journalist.key looks like a private key (a .key file)", "offline machine only", "shred -u")],
    ),
    ".key name only, deep": (
        plant_key("store/x/old.KEY", name_only=True),
        [("old.KEY looks like a private key",)],
    ),
    "secret key content": (
        plant_key("notes/backup.txt"),
        [("backup.txt looks like a private key (it contains 'tipline-sec1-')",)],
    ),
    "no recipient key": (no_keys, [("No active recipient key", "Fix: tipline keys add --data-dir")]),
    "damaged key": (
        lambda site: next((site / "data" / "keys").glob("*.pub")).write_text("tipline-pub1-zzzz\n"),
        [("is unreadable or damaged", "replace or remove it"), ("No active recipient key",)],
    ),
    "no journalist": (no_journalists, [("No journalist account yet", "Fix: tipline journalist add NAME")]),
    "no database": (
        lambda site: (site / "data" / "journalist" / "accounts.db").unlink(),
        [("No database at",)],
    ),
    "public bind": (
        lambda site: sub(site / "data" / "tipline.toml", "127.0.0.1:8080", "0.0.0.0:8080"),
        [
            (
                "Settings (tipline.toml or TIPLINE_BIND): bind is '0.0.0.0:8080', not loopback",
                "Fix: 127.0.0.1",
            ),
            ("gunicorn.conf.py refuses to load", "refusing to bind to '0.0.0.0:8080'"),
        ],
    ),
    "torrc without PoW": (
        lambda site: sub(site / "torrc", "HiddenServicePoWDefensesEnabled 1\n", ""),
        [
            ("hs-source has no proof-of-work defence", "Fix: add HiddenServicePoWDefensesEnabled 1"),
            ("hs-journalist has no proof-of-work defence", "Fix: add HiddenServicePoWDefensesEnabled 1"),
        ],
    ),
    "torrc SocksPort 9050": (
        lambda site: sub(site / "torrc", "SocksPort 0", "SocksPort 9050"),
        [("SocksPort 9050 opens a SOCKS proxy", "Fix: SocksPort 0")],
    ),
    "torrc without SocksPort": (
        lambda site: sub(site / "torrc", "SocksPort 0", ""),
        [("does not set SocksPort, so Tor opens its default SOCKS port 9050",)],
    ),
    "torrc non-loopback HiddenServicePort": (
        lambda site: sub(
            site / "torrc", "HiddenServicePort 80 127.0.0.1:18080", "HiddenServicePort 80 192.0.2.7:80"
        ),
        [("HiddenServicePort 80 192.0.2.7:80 forwards to a non-loopback address",)],
    ),
    "torrc SafeLogging 0": (
        lambda site: sub(site / "torrc", "SafeLogging 1", "SafeLogging 0"),
        [("SafeLogging 0 lets Tor log addresses",)],
    ),
    "torrc SocksPort via %include": (
        lambda site: (
            (site / "extra.conf").write_text("SocksPort 9050\n"),
            sub(site / "torrc", "SocksPort 0\n", f"SocksPort 0\n%include {site}/extra.conf\n"),
        ),
        [("extra.conf:1: SocksPort 9050",)],
    ),
    "journalist service without client auth": (
        no_client_auth,
        [("has no client authorization", "has no .auth file", "tipline onion client-auth NAME")],
    ),
    "damaged client auth file": (
        lambda site: (site / "hs-journalist" / "authorized_clients" / "ana.auth").write_text("x25519:nope\n"),
        [("ana.auth is not a client authorization line",)],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_deployment_is_caught(site, case):
    breaks, expected = CASES[case]
    breaks(site)
    r = doctor(site)
    found = problems(r.stdout)
    assert r.returncode == 1, r.stdout + r.stderr
    assert len(found) == len(expected), found
    unmatched = list(found)
    for parts in expected:
        line = next((f for f in unmatched if all(p in f for p in parts)), None)
        assert line is not None, f"{parts} not in {unmatched}"
        unmatched.remove(line)
    assert r.stdout.splitlines()[-1].startswith(f"tipline doctor: {len(found)} problem(s)")


def test_access_log_in_gunicorn_conf(site):
    gunicorn_conf_with_access_log(site)
    r = tipline("doctor", "--data-dir", str(site / "data"), "--gunicorn-conf", str(site / "gunicorn.conf.py"))
    assert r.returncode == 1 and "sets accesslog = '-'" in r.stdout, r.stdout


def test_wrong_owner(site):
    r = doctor(site, "--user", "nobody")
    assert r.returncode == 1
    assert (
        "data is owned by" in r.stdout and "not nobody (the service user). Fix: chown -R nobody" in r.stdout
    )


def test_no_data_dir(tmp_path):
    r = tipline("doctor", "--data-dir", str(tmp_path / "nothing"))
    assert r.returncode == 1 and "does not exist. Fix: install -d -m 700" in r.stdout, r.stdout


def test_doctor_leaves_no_database_files(site):
    """A -wal or -shm file made by whoever runs the doctor (root) would lock the service out."""
    before = sorted(p.name for p in (site / "data").iterdir())
    assert doctor(site).returncode == 0
    assert sorted(p.name for p in (site / "data").iterdir()) == before


def test_unreadable_folder_is_a_problem_not_a_crash(site, monkeypatch):
    import tipline.doctor as d

    def denied(*_args):
        raise PermissionError(13, "Permission denied", str(site / "data" / "keys"))

    monkeypatch.setattr(d, "check_keys", denied)
    found = [str(f) for f in d.run_checks(site / "data")]
    assert f"problem: Cannot check {site}/data/keys (Permission denied). Run tipline doctor as" in found[0]
    assert len(found) == 1, found
