"""The server-side `tipline` command: keys and export, run as a subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import run_tipline, unavailable
from tests.packages import AS_ROOT
from tipline.format.keys import SecretKey


def tipline(*args: str) -> subprocess.CompletedProcess:
    return run_tipline(*args, check=False)


@pytest.fixture
def pubs(tmp_path):
    keys = [SecretKey.generate().public_key for _ in range(2)]
    paths = []
    for i, k in enumerate(keys):
        p = tmp_path / f"k{i}.pub"
        p.write_text(k.to_text())
        paths.append(p)
    return keys, paths


def test_keys_add_list_retire(tmp_path, pubs):
    keys, paths = pubs
    data = str(tmp_path / "data")
    r = tipline("keys", "add", "--data-dir", data, str(paths[0]))
    assert r.returncode == 0 and keys[0].fingerprint in r.stdout
    assert tipline("keys", "add", "--data-dir", data, str(paths[0])).returncode == 1  # already active
    r = tipline("keys", "retire", "--data-dir", data, keys[0].fingerprint)
    assert r.returncode == 1 and "last active key" in r.stderr
    assert tipline("keys", "add", "--data-dir", data, str(paths[1])).returncode == 0
    r = tipline("keys", "retire", "--data-dir", data, keys[0].fingerprint.replace(" ", "").lower())
    assert r.returncode == 0
    r = tipline("keys", "list", "--data-dir", data)
    assert f"active   {keys[1].fingerprint}" in r.stdout and f"retired  {keys[0].fingerprint}" in r.stdout


def test_keys_add_refuses_damaged_or_secret_key(tmp_path):
    (tmp_path / "bad.pub").write_text("tipline-pub1-" + "b" * 58 + "\n")
    r = tipline("keys", "add", "--data-dir", str(tmp_path / "d"), str(tmp_path / "bad.pub"))
    assert r.returncode == 1 and "checksum" in r.stderr
    (tmp_path / "x.key").write_text(SecretKey.generate().to_text(b"pw pw pw pw", opslimit=1, memlimit=8192))
    r = tipline("keys", "add", "--data-dir", str(tmp_path / "d"), str(tmp_path / "x.key"))
    assert r.returncode == 1 and "not a Tipline public key" in r.stderr


def test_export_refuses_to_overwrite_and_empty_export_works(tmp_path, pubs):
    _, paths = pubs
    data = str(tmp_path / "data")
    tipline("keys", "add", "--data-dir", data, str(paths[0]))
    out = tmp_path / "b.tar"
    r = tipline("export", "--data-dir", data, "--out", str(out))
    assert r.returncode == 0 and "0 submission(s)" in r.stdout
    r = tipline("export", "--data-dir", data, "--out", str(out))
    assert r.returncode == 1 and "already exists" in r.stderr


@pytest.mark.parametrize(
    "cmd",
    [
        [],
        ["serve"],
        ["keys"],
        ["keys", "add"],
        ["keys", "retire"],
        ["export"],
        ["demo"],
        ["journalist", "add"],
        ["journalist", "reset-totp"],
        ["purge"],
        ["onion", "client-auth"],
        ["doctor"],
        ["upgrade"],
        ["backup"],
        ["restore"],
    ],
)
def test_help(cmd):
    r = tipline(*cmd, "--help")
    assert r.returncode == 0 and "usage: tipline" in r.stdout


def test_missing_data_dir_is_explained(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k != "TIPLINE_DATA_DIR"}
    r = subprocess.run(
        [sys.executable, "-m", "tipline.cli", "keys", "list"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 2 and "--data-dir" in r.stderr


def test_export_since_an_hour(tmp_path, pubs):
    import sqlite3
    import tarfile

    from tests.web.server import make_server

    _, paths = pubs
    srv = make_server(tmp_path, paths[0]).start()
    try:
        for text in ("old", "new"):
            token = srv.csrf_token()
            assert srv.post_form([("csrf_token", token), ("message", text)]).status == 200
    finally:
        srv.stop()
    con = sqlite3.connect(srv.data_dir / "tipline.sqlite3")
    (old_id,) = con.execute("select id from submissions limit 1").fetchone()
    con.execute("update submissions set received_hour = '2025-01-01T00:00Z' where id = ?", (old_id,))
    con.commit()
    con.close()
    out = tmp_path / "since.tar"
    r = tipline("export", "--data-dir", str(srv.data_dir), "--out", str(out), "--since", "2026-01-01T00:00Z")
    assert r.returncode == 0 and "1 submission(s)" in r.stdout
    with tarfile.open(out) as t:
        names = t.getnames()
    assert not any(n.startswith(old_id) for n in names) and len(names) == 2


@pytest.mark.parametrize("since", ["yesterday", "2026-11-26 15:00", "2026-11-26T15:30Z"])
def test_export_since_refuses_what_it_cannot_read(tmp_path, since):
    r = tipline("export", "--data-dir", str(tmp_path), "--out", str(tmp_path / "x.tar"), "--since", since)
    assert r.returncode == 2 and "--since takes" in r.stderr


def test_journalist_add_as_root_keeps_the_journalist_apps_files_its_own():
    """Root runs `tipline journalist add`; accounts.db and totp.key still belong to the app's user."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    if os.geteuid() != 0:
        unavailable(f"handing the folder to another user needs root: {AS_ROOT}")
    base = Path(tempfile.mkdtemp(prefix="tipline-owner-"))  # not under pytest's 0700 folders
    try:
        base.chmod(0o711)
        private = base / "data" / "journalist"
        private.mkdir(parents=True, mode=0o700)
        (base / "data").chmod(0o711)
        shutil.chown(private, "nobody", "nogroup")
        r = tipline("journalist", "add", "ana", "--data-dir", str(base / "data"))
        assert r.returncode == 0, r.stderr
        owners = {p.name: p.owner() for p in private.iterdir()}
        assert owners["accounts.db"] == owners["totp.key"] == "nobody", owners
    finally:
        shutil.rmtree(base)
