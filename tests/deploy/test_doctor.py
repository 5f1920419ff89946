"""`tipline doctor`: a good deployment passes; each broken one is caught with a specific message."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.packages import AS_ROOT
from tipline.format.keys import SecretKey

from .common import DEPLOY, add_key, onion_address, render_torrc, tipline

PASSPHRASE = "correct horse battery staple tipline doctor test\n"
# Users of our own for these tests (not tipline-*, which a real deployment on this machine may have).
SRC, JOUR, GROUP = "tipline-t-source", "tipline-t-journalist", "tipline-t"


def _ensure(kind: str, name: str, *cmd: str) -> None:
    lookup = grp.getgrnam if kind == "group" else pwd.getpwnam
    try:
        lookup(name)
        return
    except KeyError:
        pass
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)
    try:
        lookup(name)  # made by us, or by a test run in parallel
    except KeyError:
        raise AssertionError(f"{cmd[0]} {name} failed: {r.stderr}") from None


@pytest.fixture(scope="session")
def people() -> tuple[int, int, int]:
    """Two real system users in a group of theirs, as docs/install.md makes them.

    Returns (source uid, journalist uid, gid)."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        unavailable(f"the doctor's layout tests need root (useradd, chown): {AS_ROOT}")
    _ensure("group", GROUP, "groupadd", "--system", GROUP)
    for user in (SRC, JOUR):
        _ensure(
            "user", user, "useradd", "--system", "--gid", GROUP, "--no-create-home",
            "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", user,
        )  # fmt: skip
    return pwd.getpwnam(SRC).pw_uid, pwd.getpwnam(JOUR).pw_uid, grp.getgrnam(GROUP).gr_gid


def submissions_db(data: Path) -> Path:
    from sqlalchemy.engine import make_url

    from tipline.config import load_settings

    return Path(make_url(load_settings(data).db_url).database)


def apply_layout(data: Path, people: tuple[int, int, int]) -> None:
    """Owners and modes as docs/install.md's table (and tipline install) sets them and the apps keep them."""
    src, jour, gid = people

    def own(p: Path, uid: int, mode: int) -> None:
        os.chown(p, uid, gid)
        os.chmod(p, mode)

    own(data, 0, 0o2770)
    for f in data.iterdir():
        if f.is_file():
            shared_db = f.name.startswith(submissions_db(data).name)
            own(f, src if shared_db else 0, 0o660 if shared_db else 0o640)
    for dirpath, _dirs, files in os.walk(data / "store"):
        own(Path(dirpath), src, 0o2770)
        for f in files:
            own(Path(dirpath) / f, src, 0o660)
    for dirpath, _dirs, files in os.walk(data / "keys"):
        own(Path(dirpath), 0, 0o2750)
        for f in files:
            own(Path(dirpath) / f, 0, 0o640)
    for folder, uid in ((data / "source", src), (data / "journalist", jour)):
        own(folder, uid, 0o700)
        for f in folder.iterdir():
            own(f, uid, 0o600)


def _secret(path: Path) -> None:
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(32))
        os.close(fd)


@pytest.fixture(scope="module")
def template(tmp_path_factory, people) -> Path:
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
    assert (data / "journalist" / "accounts.db").exists()  # `journalist add` keeps accounts apart
    (data / "source").mkdir(mode=0o700, exist_ok=True)
    # As the apps make them at start (the source app's session.key too: not a private key either).
    secrets = ("csrf.secret", "install.salt", "session.key")
    for secret in (*(f"source/{s}" for s in secrets), "journalist/csrf.secret", "journalist/totp.key"):
        _secret(data / secret)
    toml = f'onion_address = "{onion_address()}.onion"\nbind = "127.0.0.1:8080"\n'
    (data / "tipline.toml").write_text(toml)
    _torrc, _src, jour = render_torrc(base)
    (jour / "authorized_clients").mkdir(mode=0o700)
    r = tipline(
        "onion", "client-auth", "ana", "--onion-address", onion_address(), "--out", str(base / "auth")
    )
    assert r.returncode == 0, r.stderr
    shutil.copy(base / "auth" / "ana.auth", jour / "authorized_clients" / "ana.auth")
    (base / "units").mkdir()
    for unit in ("tipline-source.service", "tipline-journalist.service"):
        text = (DEPLOY / "systemd" / unit).read_text()
        text = text.replace("User=tipline-source", f"User={SRC}")
        text = text.replace("User=tipline-journalist", f"User={JOUR}")
        (base / "units" / unit).write_text(text.replace("/var/lib/tipline", str(data)))
    return base


@pytest.fixture
def site(template, tmp_path, people) -> Path:
    base = tmp_path / "site"
    shutil.copytree(template, base, symlinks=True)
    # The torrc and units name the template's folders: point them at this copy's.
    for f in (base / "torrc", *(base / "units").iterdir()):
        f.write_text(f.read_text().replace(str(template), str(base)))
    apply_layout(base / "data", people)
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
        "--units",
        str(site / "units"),
        "--source-user",
        SRC,
        "--journalist-user",
        JOUR,
        "--group",
        GROUP,
        *extra,
    )


def problems(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.startswith("problem: ")]


def test_good_deployment_passes(site):
    r = doctor(site)
    assert r.returncode == 0, r.stdout + r.stderr
    # No tor runs here: the doctor says so (tests/tor checks it against a running one).
    assert r.stdout.splitlines()[0].startswith("warning: Tor is not running (no control socket at ")
    assert r.stdout.splitlines()[-1] == "tipline doctor: all checks passed (1 warning(s))."


def test_missing_onion_address_is_only_a_warning(site):
    (site / "data" / "tipline.toml").write_text('bind = "127.0.0.1:8080"\n')
    r = doctor(site)
    assert r.returncode == 0 and "warning: onion_address is not set" in r.stdout, r.stdout


def sub(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def socks_line(site: Path) -> str:
    """The rendered torrc's one SocksPort line (tipline notify's unix socket), with its newlines."""
    return f"\nSocksPort unix:{site}/run/socks GroupWritable RelaxDirModeCheck\n"


def chmod(rel: str, mode: int) -> Callable[[Path], None]:
    return lambda site: os.chmod(site / rel, mode)


def plant_key(rel: str, name_only: bool = False) -> Callable[[Path], None]:
    def do(site: Path) -> None:
        p = site / "data" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(
            "just a name" if name_only else SecretKey.generate().to_text(b"pw", opslimit=1, memlimit=8192)
        )
        for q in (p.parent, p):  # as the apps would leave it: only the key is wrong
            os.chown(q, 0, grp.getgrnam(GROUP).gr_gid)
            os.chmod(q, 0o2770 if q.is_dir() else 0o660)

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


def chown(rel: str, user: str | None = None, group: str | None = None) -> Callable[[Path], None]:
    return lambda site: os.chown(
        site / rel, pwd.getpwnam(user).pw_uid if user else -1, grp.getgrnam(group).gr_gid if group else -1
    )


def old_journalists_left(site: Path) -> None:
    """An install from before the separation: journalists still in the submissions database."""
    src = sqlite3.connect(site / "data" / "journalist" / "accounts.db")
    (schema,) = src.execute("SELECT sql FROM sqlite_master WHERE name = 'journalists'").fetchone()
    rows = src.execute("SELECT * FROM journalists").fetchall()
    src.close()
    con = sqlite3.connect(submissions_db(site / "data"))
    con.execute(schema)
    con.executemany(f"INSERT INTO journalists VALUES ({','.join('?' * len(rows[0]))})", rows)
    con.commit()
    con.close()


def units_as_one_user(site: Path) -> None:
    sub(site / "units" / "tipline-source.service", f"User={SRC}", f"User={JOUR}")


def unit_without_inaccessible_paths(site: Path) -> None:
    unit = site / "units" / "tipline-source.service"
    unit.write_text("".join(ln for ln in unit.read_text().splitlines(True) if "InaccessiblePaths" not in ln))


# Each case: how to break the good deployment, and the problems expected (each a tuple of
# strings that one line must contain). Nothing else may be reported.
CASES = {
    "world-readable data dir": (chmod("data", 0o2775), [("data is mode 2775, not 2770", "Fix: chmod 2770")]),
    "data dir not setgid": (chmod("data", 0o770), [("data is mode 0770, not 2770",)]),
    "data dir owned by the source user": (
        chown("data", SRC),
        [(f"data is owned by {SRC}:{GROUP}, not root:{GROUP}", f"Fix: chown root:{GROUP}")],
    ),
    "world-readable keys dir": (chmod("data/keys", 0o2755), [("keys is mode 2755, not 2750",)]),
    "writable key file": (
        lambda site: os.chmod(next((site / "data" / "keys").glob("*.pub")), 0o660),
        [("is mode 0660, not 0640", "Fix: chmod 0640")],
    ),
    "readable database": (
        lambda site: os.chmod(submissions_db(site / "data"), 0o664),
        [("is mode 0664, not 0660", "Fix: chmod 0660")],
    ),
    "database of another group": (
        lambda site: os.chown(submissions_db(site / "data"), -1, 0),
        [(f":root, not {SRC}:{GROUP}",)],
    ),
    "settings writable by the apps": (chmod("data/tipline.toml", 0o660), [("tipline.toml is mode 0660",)]),
    "store owned by root": (
        chown("data/store/submissions", "root"),
        [(f"submissions is owned by root:{GROUP}, not {SRC}:{GROUP}", f"Fix: chown {SRC}:{GROUP}")],
    ),
    "store folder closed to the journalist app": (
        chmod("data/store", 0o2700),
        [("store is mode 2700, not 2770",)],
    ),
    "store sub-folder closed to the journalist app": (
        chmod("data/store/submissions", 0o700),
        [
            ("store/submissions is mode 0700, not 2770", "Fix: chmod 2770"),
            ("store/submissions is tipline-t mode 0700: both apps (group tipline-t)", "chmod -R g+rwX,o="),
        ],
    ),
    # The separation: each app's private folder is closed to the other app's user.
    "journalist folder owned by the source user": (
        chown("data/journalist", SRC),
        [
            (f"journalist is owned by {SRC}:{GROUP}, not {JOUR}:{GROUP}",),
            (f"The user {SRC} can enter", "journalist, which holds the journalists' accounts and secrets"),
        ],
    ),
    "journalist folder open to the group": (
        chmod("data/journalist", 0o750),
        [
            ("journalist is mode 0750, not 0700",),
            (f"The user {SRC} can enter", "the apps are not separated"),
        ],
    ),
    "source folder open to the group": (
        chmod("data/source", 0o770),
        [("source is mode 0770, not 0700",), (f"The user {JOUR} can enter", "the source app's secret")],
    ),
    # What `install -d -m 0700` makes inside the setgid data folder; GNU chmod 0700 would keep the bit.
    "source folder set-group-ID": (
        chmod("data/source", 0o2700),
        [("source is mode 2700, not 0700", "Fix: chmod 00700")],
    ),
    "no journalist folder": (
        lambda site: shutil.rmtree(site / "data" / "journalist"),
        [
            ("journalist does not exist: the journalist app has no private folder", "install -d -m 0700"),
            ("No accounts database at", "Fix: tipline journalist add NAME"),
        ],
    ),
    "accounts database owned by the source user": (
        chown("data/journalist/accounts.db", SRC),
        [(f"accounts.db is owned by {SRC}:{GROUP}, not {JOUR}:{GROUP}",)],
    ),
    "readable csrf secret": (
        chmod("data/journalist/csrf.secret", 0o640),
        [("journalist/csrf.secret is mode 0640, not 0600", "chmod 0600")],
    ),
    "readable totp key": (chmod("data/journalist/totp.key", 0o644), [("totp.key is mode 0644, not 0600",)]),
    "source secret owned by the journalist user": (
        chown("data/source/csrf.secret", JOUR),
        [(f"source/csrf.secret is owned by {JOUR}:{GROUP}, not {SRC}:{GROUP}",)],
    ),
    "old shared csrf secret": (
        lambda site: (site / "data" / "csrf.secret").write_bytes(os.urandom(32)),
        [("csrf.secret is left from before the apps were separated", "shred -u")],
    ),
    "old journalists in the submissions database": (
        old_journalists_left,
        [("The submissions database still holds 1 journalist account(s)", "Fix: tipline upgrade")],
    ),
    "units run both apps as one user": (
        units_as_one_user,
        [
            (f"runs the source app as '{JOUR}', not {SRC}", f"Fix: User={SRC}"),
            (f"Both apps run as the same user '{JOUR}'",),
        ],
    ),
    "source unit can see the journalist folder": (
        unit_without_inaccessible_paths,
        [("tipline-source.service lets the source app see", "data/journalist. Fix: InaccessiblePaths=")],
    ),
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
    "no submissions database": (
        lambda site: submissions_db(site / "data").unlink(),
        [("No submissions database at", f"Fix: install -m 0660 -o {SRC} -g {GROUP} /dev/null")],
    ),
    "no accounts database": (
        lambda site: (site / "data" / "journalist" / "accounts.db").unlink(),
        [("No accounts database at", "so no journalist account")],
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
        lambda site: sub(site / "torrc", socks_line(site), "\nSocksPort 9050\n"),
        [("SocksPort 9050 opens a SOCKS proxy on a TCP port", "Fix: SocksPort 0")],
    ),
    "torrc without SocksPort": (
        lambda site: sub(site / "torrc", socks_line(site), "\n"),
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
            sub(site / "torrc", socks_line(site), f"{socks_line(site)}%include {site}/extra.conf\n"),
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
    r = doctor(site, "--gunicorn-conf", str(site / "gunicorn.conf.py"))
    assert r.returncode == 1 and "sets accesslog = '-'" in r.stdout, r.stdout


def test_unknown_service_users(site):
    """Without the users the layout cannot be judged; everything else is still checked."""
    sub(site / "torrc", socks_line(site), "\nSocksPort 9050\n")
    r = doctor(site, "--source-user", "tipline-t-nobody-here")
    assert r.returncode == 1
    found = problems(r.stdout)
    assert found[0].startswith("problem: There is no user 'tipline-t-nobody-here' on this machine")
    assert "SocksPort 9050 opens a SOCKS proxy" in found[1] and len(found) == 2, r.stdout


def test_no_data_dir(tmp_path, people):
    r = tipline(
        "doctor", "--data-dir", str(tmp_path / "nothing"),
        "--source-user", SRC, "--journalist-user", JOUR, "--group", GROUP,
    )  # fmt: skip
    assert r.returncode == 1 and "does not exist. Fix: tipline install --data-dir" in r.stdout


def test_doctor_leaves_no_database_files(site):
    """A -wal or -shm file made by whoever runs the doctor (root) would lock the service out."""
    before = sorted(str(p.relative_to(site)) for p in (site / "data").rglob("*"))
    assert doctor(site).returncode == 0
    assert sorted(str(p.relative_to(site)) for p in (site / "data").rglob("*")) == before


def test_unreadable_folder_is_a_problem_not_a_crash(site, monkeypatch):
    import tipline.ops.doctor as d

    def denied(*_args):
        raise PermissionError(13, "Permission denied", str(site / "data" / "keys"))

    monkeypatch.setattr(d, "check_keys", denied)
    found = [str(f) for f in d.run_checks(site / "data", source_user=SRC, journalist_user=JOUR, group=GROUP)]
    assert (
        f"problem: Cannot check {site}/data/keys (Permission denied). Run tipline doctor as root"
        in (found[0])
    )
    assert len(found) == 1, found


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("sqlite:////srv/t/tipline.db", "sqlite:////srv/t/journalist/accounts.db", False),
        ("sqlite:////srv/t/tipline.db", "sqlite:////srv/t/journalist/../tipline.db", True),
        ("sqlite:////srv/t/tipline.db", "postgresql+psycopg://db/tipline", False),
        ("postgresql+psycopg://u@db/submissions", "postgresql+psycopg://v@db:5432/submissions", True),
        ("postgresql+psycopg:///submissions", "postgresql+psycopg:///accounts", False),
        ("postgresql+psycopg://db/submissions", "postgresql+psycopg://other/submissions", False),
    ],
)
def test_accounts_database_must_not_be_the_submissions_database(a, b, same):
    """A role or file may differ, the database is what counts: the same one means no separation."""
    from tipline.ops.doctor_layout import same_database

    assert same_database(a, b) is same
    assert same_database(b, a) is same


def test_accounts_database_setting_is_read_with_its_default(tmp_path):
    """accounts_database_url when the settings have it; else DATA_DIR/journalist/accounts.db."""
    from dataclasses import replace

    from tipline.config import Settings
    from tipline.ops.doctor_layout import check_databases

    settings = Settings(data_dir=tmp_path)
    assert settings.accounts_db_url == f"sqlite:///{tmp_path}/journalist/accounts.db"
    assert check_databases(settings) == []
    same = replace(settings, accounts_database_url=settings.db_url)
    assert [f.level for f in check_databases(same)] == ["problem"]
