"""Bad backups and bad targets: each refused with one line, exit 1, and nothing in the target changed."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from tests.conftest import export_and_decrypt, run_tipline, submission_folders
from tests.deploy.test_doctor import GROUP, JOUR, SRC, people  # noqa: F401 (a fixture)
from tests.web.logins import enrol
from tests.web.server import make_server

MESSAGES = ["first tip kept in the backup", "second tip kept in the backup"]
PASSPHRASE = "seven random words make a good backup passphrase"


def tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under root with its mode and, for a file, its bytes: what 'nothing changed' compares."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(root))] = (st.st_mode, p.read_bytes() if p.is_file() else None)
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory, keydir):
    """A data folder with two tips sent over HTTP to a real gunicorn (stopped since), and its backups."""
    base = tmp_path_factory.mktemp("source")
    srv = make_server(base, keydir / "journalist.pub")
    srv.start()
    try:
        for text in MESSAGES:
            assert srv.post_form([("csrf_token", srv.csrf_token()), ("message", text)]).status == 200
    finally:
        srv.stop()
    enrol(srv.data_dir, "ana", base)
    plain, sealed = base / "plain.tar", base / "sealed.backup"
    (base / "pass").write_text(PASSPHRASE + "\n")
    run_tipline("backup", "--data-dir", str(srv.data_dir), "--out", str(plain))
    run_tipline(
        "backup",
        "--data-dir",
        str(srv.data_dir),
        "--out",
        str(sealed),
        "--passphrase-file",
        str(base / "pass"),
    )
    return srv.data_dir, plain, sealed, base / "pass"


def refused(backup: Path, target: Path, *extra: str) -> str:
    before = tree(target)
    r = run_tipline("restore", str(backup), "--data-dir", str(target), *extra, check=False)
    assert r.returncode == 1 and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    line = r.stderr.strip()
    assert "\n" not in line and line.startswith("tipline: ") and "Traceback" not in line, r.stderr
    assert tree(target) == before
    return line


@pytest.fixture
def target(tmp_path, keydir) -> Path:
    return make_server(tmp_path / "fresh", keydir / "journalist.pub").data_dir


def rewritten(plain: Path, out: Path, change) -> Path:
    """The backup with its manifest changed by `change(doc)`, members as they were."""
    with tarfile.open(plain) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for m, data in members:
            if m.name == "manifest.json":
                doc = json.loads(data)
                change(doc)
                data = json.dumps(doc).encode()
                m.size = len(data)
            tar.addfile(m, io.BytesIO(data))
    return out


def test_sealed_backup_round_trips(source, tmp_path, target, keydir):
    _, _, sealed, pw = source
    assert not sealed.read_bytes().startswith(b"ustar") and b"tipline-pub1" not in sealed.read_bytes()
    r = run_tipline("restore", str(sealed), "--data-dir", str(target), "--passphrase-file", str(pw))
    assert r.stdout.startswith("Restored"), r.stderr
    out = export_and_decrypt(target, keydir, tmp_path / "work")
    assert sorted((d / "message.txt").read_text() for d in submission_folders(out).values()) == sorted(
        MESSAGES
    )


def test_damaged_or_foreign_files_are_refused(source, tmp_path, target):
    _, plain, sealed, pw = source
    raw = plain.read_bytes()
    cases = {}
    flipped = bytearray(raw)
    at = raw.index(b"data/store/submissions/") + 512 + 100  # inside the first envelope's data
    flipped[at] ^= 1
    cases["tampered"] = bytes(flipped)
    cases["truncated"] = raw[: len(raw) // 2]
    cases["not a backup"] = os.urandom(4096)
    cases["empty"] = b""
    for name, data in cases.items():
        path = tmp_path / name.replace(" ", "-")
        path.write_bytes(data)
        print(name, "->", refused(path, target))
    bundle = tmp_path / "bundle.tar"
    run_tipline("export", "--data-dir", str(source[0]), "--out", str(bundle))
    assert "not a Tipline backup" in refused(bundle, target) or "incomplete" in refused(bundle, target)
    cut = tmp_path / "sealed-cut"
    cut.write_bytes(sealed.read_bytes()[:-100])
    assert "cannot be opened" in refused(cut, target, "--passphrase-file", str(pw))
    wrong = tmp_path / "wrong-pass"
    wrong.write_text("not the passphrase it was sealed with\n")
    assert "cannot be opened" in refused(sealed, target, "--passphrase-file", str(wrong))
    assert "--passphrase-file" in refused(sealed, target)


def test_versions_it_does_not_know_are_refused(source, tmp_path, target):
    plain = source[1]
    v2 = rewritten(plain, tmp_path / "v2.tar", lambda d: d.update(version=2))
    assert "format version 2" in refused(v2, target)
    newer = rewritten(plain, tmp_path / "newer.tar", lambda d: d.update(tipline="99.0.0"))
    assert "newer" in refused(newer, target)
    other = rewritten(plain, tmp_path / "pg.tar", lambda d: d["databases"].update(submissions="postgresql"))
    assert "settings use sqlite" in refused(other, target)
    schema = rewritten(plain, tmp_path / "schema.tar", lambda d: d["schema"].update(submissions="ffff0000"))
    assert "Upgrade Tipline first" in refused(schema, target)


def test_restore_over_an_install_in_use_is_refused(source, target):
    plain = source[1]
    r = run_tipline("restore", str(plain), "--data-dir", str(target))
    assert r.returncode == 0, r.stderr
    assert "already holds data (submissions" in refused(plain, target)


def test_a_private_key_in_the_data_folder_is_never_backed_up(source, tmp_path, keydir):
    data = tmp_path / "data"
    make_server(tmp_path, keydir / "journalist.pub")
    (data / "keys" / "journalist.key").write_bytes((keydir / "journalist.key").read_bytes())
    r = run_tipline("backup", "--data-dir", str(data), "--out", str(tmp_path / "b.tar"), check=False)
    assert r.returncode == 1 and "never hold a private key" in r.stderr and "\n" not in r.stderr.strip()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "tmp"]  # no backup, no temporary file


def test_restore_as_root_gives_the_install_layout(source, target, people):  # noqa: F811
    """Owners and modes as docs/install.md's table has them: `tipline doctor` finds nothing to fix."""
    accounts = ("--source-user", SRC, "--journalist-user", JOUR, "--group", GROUP)
    r = run_tipline("restore", str(source[1]), "--data-dir", str(target), *accounts)
    assert r.returncode == 0 and "do not exist" not in r.stdout, r.stdout + r.stderr
    src, _jour, gid = people
    st = (target / "tipline.sqlite3").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (src, gid, 0o660)
    doctor = run_tipline("doctor", "--data-dir", str(target), *accounts, check=False)
    layout = [ln for ln in doctor.stdout.splitlines() if " is owned by " in ln or " is mode " in ln]
    assert layout == [] and doctor.returncode == 0, doctor.stdout
