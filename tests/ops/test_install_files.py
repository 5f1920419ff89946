"""What `tipline install` writes is deploy/'s own files, and the wheel carries them (no booting needed)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tipline.ops import install_files as files
from tipline.ops.install_layout import InstallError
from tipline.ops.install_toml import updated

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def test_files_are_deploys_own_byte_for_byte():
    plan = {p.path: p.data for p in files.planned()}
    assert plan[files.TORRC] == (DEPLOY / "torrc").read_bytes()
    assert plan[files.GUNICORN_CONF] == (DEPLOY / "gunicorn.conf.py").read_bytes()
    units = sorted(p.name for p in (DEPLOY / "systemd").iterdir() if p.is_file())
    assert sorted(files.UNITS) == units  # a unit added to deploy/ must be installed too
    for name in units:
        assert plan[files.UNIT_DIR / name] == (DEPLOY / "systemd" / name).read_bytes()
    assert files.DROP_IN not in plan  # only for route = "direct"
    assert all(p.mode == 0o644 for p in files.planned())


def test_drop_in_only_for_the_direct_route():
    plan = {p.path: p.data for p in files.planned(direct=True)}
    assert plan[files.DROP_IN] == (DEPLOY / "systemd/drop-in/tipline-notify-direct.conf").read_bytes()


def test_another_data_folder_changes_only_its_path():
    other = Path("/srv/tips")
    default = {p.path: p.data.decode() for p in files.planned()}
    for p in files.planned(other):
        text = p.data.decode()
        assert str(files.DEFAULT_DATA_DIR) not in text, p.path
        assert text.replace(str(other), str(files.DEFAULT_DATA_DIR)) == default[p.path]
    source = next(p for p in files.planned(other) if p.path.name == "tipline-source.service").data.decode()
    assert "InaccessiblePaths=/srv/tips/journalist" in source and "ReadWritePaths=/srv/tips" in source


def test_the_wheel_carries_every_file_it_installs():
    """pyproject.toml's force-include puts deploy/ in the wheel where deploy_dir() looks first."""
    conf = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = conf["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    packaged = Path(files.__file__).parent / "deploy"
    for p in files.planned(direct=True):
        source = next(
            DEPLOY / rel
            for rel in [str(q.relative_to(DEPLOY)) for q in DEPLOY.rglob("*") if q.is_file()]
            if (DEPLOY / rel).read_bytes() == p.data
        )
        rel = source.relative_to(REPO).as_posix()
        covering = [k for k in include if rel == k or rel.startswith(k + "/")]
        assert covering, f"{rel} is not in the wheel"
        target = include[covering[0]] + rel[len(covering[0]) :]
        assert REPO / target == packaged / source.relative_to(DEPLOY)
    assert files.deploy_dir() in (packaged, DEPLOY)


def test_settings_keep_the_admins_lines():
    text = (
        '# ours\nbind = "127.0.0.1:8080"  # keep\n\n[notify]\nroute = "tor"\n\n[newsroom.es]\nname = "El"\n'
    )
    out = updated(text, "a" * 56 + ".onion", 'The "Daily" Ünïcode')
    doc = tomllib.loads(out)
    assert doc["onion_address"] == "a" * 56 + ".onion" and doc["newsroom"]["name"] == 'The "Daily" Ünïcode'
    assert doc["newsroom"]["es"] == {"name": "El"} and doc["notify"] == {"route": "tor"}
    assert all(line in out.splitlines() for line in text.splitlines())  # nothing removed or changed
    assert updated(out, "a" * 56 + ".onion", 'The "Daily" Ünïcode') == out  # a second time: nothing
    renamed = updated(out, "b" * 56 + ".onion", "Another")
    assert len(renamed.splitlines()) == len(out.splitlines())  # both replaced in place


@pytest.mark.parametrize(
    "text",
    [
        '[newsroom]\nname = """two\nlines"""\n',  # not one line: cannot be replaced line by line
        "newsroom.name = 'dotted'\n",
        "not = [toml\n",
    ],
)
def test_settings_it_cannot_edit_safely_are_refused(text):
    with pytest.raises(InstallError) as e:
        updated(text, None, "The Daily Example")
    assert e.value.code == 2 and "\n" not in str(e.value)
