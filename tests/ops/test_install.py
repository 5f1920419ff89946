"""`tipline install` on a fake root: what it makes is what the doctor wants, and a second run changes nothing.

The files go under a temporary ROOT (Options.root); the users and the group are this
machine's own (tipline-source, tipline-journalist, tipline), made for real, so these
tests need root. Starting the services is tests/system's: it boots Debian and runs
docs/install.md's commands. The refusals run the real command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.packages import AS_ROOT
from tipline.ops import install_files as files
from tipline.ops.install import Options, check_inputs, check_machine, prepare
from tipline.ops.install_layout import InstallError

ORG = "The Daily Example"


@pytest.fixture
def root(tmp_path) -> Path:
    if os.geteuid() != 0:
        unavailable(f"tipline install makes users and sets owners: {AS_ROOT}")
    return tmp_path / "root"


@pytest.fixture
def alice_pub(keydir) -> Path:
    """A journalist's public key, made by the real tipline-offline keygen."""
    return keydir / "journalist.pub"


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ROOT with its kind, owner, mode, inode and time of change, and a file's bytes."""
    out = {}
    for dirpath, dirs, names in os.walk(root):
        for name in dirs + names:
            p = Path(dirpath) / name
            st = p.lstat()
            data = p.read_bytes() if p.is_file() and not p.is_symlink() else None
            out[str(p.relative_to(root))] = (
                st.st_mode,
                st.st_uid,
                st.st_gid,
                st.st_ino,
                st.st_mtime_ns,
                data,
            )
    return out


def test_second_run_changes_nothing(root, tmp_path, alice_pub):
    opts = Options(ORG, keys=(alice_pub,), root=root)
    first = prepare(opts)
    assert first.changes and first.written
    before = snapshot(root)
    again = prepare(opts)
    assert again.changes == [] and again.written == [] and not again.settings_changed
    assert snapshot(root) == before  # not a file rewritten, not an owner or mode touched


def test_what_it_makes_is_what_the_doctor_wants(root, alice_pub):
    from tipline.config import load_settings
    from tipline.ops.doctor import check_keys
    from tipline.ops.doctor_layout import People, check_layout, check_units

    prepare(Options(ORG, keys=(alice_pub,), root=root))
    data = files.at(root, files.DEFAULT_DATA_DIR)
    settings = load_settings(data, environ={})
    assert settings.newsroom["name"] == ORG
    people = People.look_up("tipline-source", "tipline-journalist", "tipline")
    assert check_layout(settings, people) == []
    assert check_keys(settings) == []
    # The units as installed, but judged for the fake root's data folder.
    units = root / "units"
    units.mkdir()
    for unit in files.UNITS:
        text = files.at(root, files.UNIT_DIR / unit).read_text()
        (units / unit).write_text(text.replace(str(files.DEFAULT_DATA_DIR), str(data)))
    assert check_units(units, people, data) == []
    assert (
        data / "journalist" / "accounts.db"
    ).stat().st_uid == people.journalist.pw_uid  # tipline upgrade's
    assert (data / "tipline.sqlite3").stat().st_uid == people.source.pw_uid


def test_what_differs_is_put_right_and_only_that(root, alice_pub):
    opts = Options(ORG, keys=(alice_pub,), root=root)
    prepare(opts)
    data = files.at(root, files.DEFAULT_DATA_DIR)
    unit = files.at(root, files.UNIT_DIR / "tipline-source.service")
    unit.write_text(unit.read_text().replace("NoNewPrivileges=yes", "NoNewPrivileges=no"))
    key = next((data / "keys").glob("*.pub"))
    key.chmod(0o600)  # as `tipline keys add` run by root leaves it
    (data / "store").chmod(0o755)
    other = files.at(root, files.UNIT_DIR / "tipline-journalist.service")
    other_ino = other.stat().st_ino
    out = prepare(opts)
    assert out.written == [files.UNIT_DIR / "tipline-source.service"]
    assert sorted(out.changes) == sorted(
        [
            f"wrote {files.UNIT_DIR / 'tipline-source.service'}",
            f"set the mode of {key} to 0640",
            f"set the mode of {data / 'store'} to 2770",
        ]
    )
    assert unit.read_bytes() == (files.deploy_dir() / "systemd/tipline-source.service").read_bytes()
    assert other.stat().st_ino == other_ino
    assert not list(unit.parent.glob(".*tipline-tmp"))  # written through a temporary file, renamed


def test_settings_and_newsroom_name(root):
    data = files.at(root, files.DEFAULT_DATA_DIR)
    data.mkdir(parents=True)
    (data / "tipline.toml").write_text(
        '# the admin\'s\nmax_upload_mb = 100\n\n[newsroom]\nintro = "Hello."\n'
    )
    prepare(Options(ORG, root=root))
    text = (data / "tipline.toml").read_text()
    assert "max_upload_mb = 100" in text and 'intro = "Hello."' in text and f'name = "{ORG}"' in text
    out = prepare(Options("The Evening Example", root=root))
    assert out.changes == [f"set [newsroom] name in {files.DEFAULT_DATA_DIR / 'tipline.toml'}"]
    assert 'name = "The Evening Example"' in (data / "tipline.toml").read_text()


def test_debians_torrc_is_kept_once(root):
    torrc = files.at(root, files.TORRC)
    torrc.parent.mkdir(parents=True)
    torrc.write_text("## Debian's torrc: all comments\n")
    prepare(Options(ORG, root=root))
    assert files.at(root, files.TORRC_BEFORE).read_text() == "## Debian's torrc: all comments\n"
    torrc.write_text("SocksPort 9050\n")  # a change made by hand
    prepare(Options(ORG, root=root))
    assert files.at(root, files.TORRC_BEFORE).read_text() == "## Debian's torrc: all comments\n"
    assert torrc.read_bytes() == (files.deploy_dir() / "torrc").read_bytes()


def test_the_direct_routes_drop_in_follows_the_settings(root):
    data = files.at(root, files.DEFAULT_DATA_DIR)
    data.mkdir(parents=True)
    (data / "tipline.toml").write_text('[notify]\nroute = "direct"\n')
    prepare(Options(ORG, root=root))
    assert files.at(root, files.DROP_IN).is_file()
    (data / "tipline.toml").write_text('[notify]\nroute = "tor"\n')
    out = prepare(Options(ORG, root=root))
    assert not files.at(root, files.DROP_IN).exists() and files.DROP_IN in out.written


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        (None, "--key "),
        ('nonsense = "x"\n', "The settings do not load: "),
        ('[newsroom]\nname = """two\nlines"""\n', "Cannot set onion_address and [newsroom] name"),
    ],
)
def test_bad_inputs_are_refused_before_any_change(root, tmp_path, alice_pub, toml, says):
    keys = (alice_pub,)
    if toml is None:
        keys = (tmp_path / "bad.pub",)
        keys[0].write_text("not a key\n")
    else:
        data = files.at(root, files.DEFAULT_DATA_DIR)
        data.mkdir(parents=True)
        (data / "tipline.toml").write_text(toml)
    before = snapshot(tmp_path)
    with pytest.raises(InstallError) as e:
        check_inputs(Options(ORG, keys=keys, root=root))
    assert e.value.code == 2 and str(e.value).startswith(says) and "\n" not in str(e.value)
    assert snapshot(tmp_path) == before


def test_refuses_without_systemd_or_tor(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        unavailable(f"the machine checks come after the root check: {AS_ROOT}")
    with pytest.raises(InstallError, match="does not run systemd") as e:
        check_machine(tmp_path)
    assert e.value.code == 2
    (tmp_path / "run/systemd/system").mkdir(parents=True)
    monkeypatch.setenv("PATH", str(tmp_path))  # no tor on it, nor under the fake root
    with pytest.raises(InstallError, match="tor is not installed: apt-get install tor"):
        check_machine(tmp_path)


def _install(*args: str, user: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "tipline.cli", "install", *args]
    if user:
        # The checkout may sit in root's 0700 home (it does on a fresh Debian): the user may read
        # it (CAP_DAC_READ_SEARCH), and is otherwise an ordinary one, which is what the test is about.
        reader = ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
        cmd = ["setpriv", f"--reuid={user}", "--regid=65534", "--clear-groups", *reader, *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd="/")


@pytest.mark.parametrize(
    ("org", "says"),
    [
        ("<b>Daily</b>", "tipline: --org: the name holds '<b', which looks like HTML"),
        ("   ", "tipline: --org: give the newsroom's name"),
        ("x" * 101, "tipline: --org: the name is 101 characters long; the most is 100."),
    ],
)
def test_refuses_a_bad_name_in_one_line(org, says):
    r = _install("--org", org)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(says) and r.stderr.count("\n") == 1, r.stderr


def test_refuses_without_root():
    r = _install("--org", ORG, user="nobody") if os.geteuid() == 0 else _install("--org", ORG)
    assert r.returncode == 2
    assert r.stderr == "tipline: tipline install must run as root: it makes users and writes to /etc.\n"
