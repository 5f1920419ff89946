"""The real tipline-offline, run as a subprocess on real files."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE, run_offline
from tipline.format.bundle import SubmissionEntry, envelope_member, iter_bundle
from tipline.format.keys import PublicKey, SecretKey
from tipline.format.payload import Metadata
from tipline.format.stream import seal_bytes

MARKER = b"PLAINTEXT-MARKER-7f3a"


@pytest.fixture(scope="module")
def pub(keydir) -> Path:
    return keydir / "journalist.pub"


def decrypt(keydir: Path, out: Path, *inputs: Path, key: str = "journalist.key", pw: Path | None = None):
    return run_offline(
        "decrypt",
        *map(str, inputs),
        "--key",
        str(keydir / key),
        "--out",
        str(out),
        "--passphrase-file",
        str(pw or keydir / "pass.txt"),
    )


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def assert_no_plaintext(folder: Path) -> None:
    for p in files_under(folder):
        assert MARKER not in p.read_bytes(), p
        assert not p.name.endswith(".part"), p


def make_bundle(
    path: Path, items: list[tuple[bytes, Metadata]], pub: PublicKey, sid: str = "sub_0123456789"
) -> None:
    envs = [seal_bytes(c, m, [pub]) for c, m in items]
    entry = SubmissionEntry(
        sid, "2026-11-26T15:00Z", "browser", tuple(envelope_member(sid, i) for i in range(len(envs)))
    )
    members = {envelope_member(sid, i): e for i, e in enumerate(envs)}
    path.write_bytes(
        b"".join(
            iter_bundle([entry], "2026-11-26T16:00Z", lambda m: (io.BytesIO(members[m]), len(members[m])))
        )
    )


# -- keygen and fingerprint ---------------------------------------------------------


def test_keygen_writes_private_key_0600(keydir):
    sec = keydir / "journalist.key"
    assert stat.S_IMODE(sec.stat().st_mode) == 0o600
    assert "tipline-sec1-" in sec.read_text()
    pub = PublicKey.from_text((keydir / "journalist.pub").read_text())
    assert SecretKey.from_text(sec.read_text(), PASSPHRASE.encode()).public_key == pub


def test_keygen_never_overwrites(keydir):
    before = (keydir / "journalist.key").read_bytes()
    r = run_offline("keygen", "--out", str(keydir), "--passphrase-file", str(keydir / "pass.txt"))
    assert r.returncode == 1
    assert "already exists" in r.stderr
    assert (keydir / "journalist.key").read_bytes() == before


def test_keygen_refuses_short_passphrase(tmp_path):
    (tmp_path / "pw").write_text("short\n")
    r = run_offline("keygen", "--out", str(tmp_path / "k"), "--passphrase-file", str(tmp_path / "pw"))
    assert r.returncode == 2 and "shorter than" in r.stderr
    assert files_under(tmp_path / "k") == []


def test_keygen_without_terminal_or_file_says_what_to_do(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "tipline.offline", "keygen", "--out", str(tmp_path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "--passphrase-file" in r.stderr


def test_fingerprint_matches_keygen(keydir, pub):
    r = run_offline("fingerprint", str(pub), check=True)
    assert r.stdout.strip() == PublicKey.from_text(pub.read_text()).fingerprint
    assert r.stdout.strip() in pub.read_text()


def test_fingerprint_of_damaged_key(tmp_path):
    (tmp_path / "bad.pub").write_text("tipline-pub1-" + "a" * 58 + "\n")
    r = run_offline("fingerprint", str(tmp_path / "bad.pub"))
    assert r.returncode == 2 and "checksum" in r.stderr


# -- seal -> decrypt -------------------------------------------------------------------


def test_seal_decrypt_roundtrip(keydir, pub, tmp_path):
    src = tmp_path / "evidence.csv"
    src.write_bytes(MARKER + os.urandom(300_000))
    env = tmp_path / "evidence.envelope"
    r = run_offline("seal", "--to", str(pub), str(src), "-o", str(env), check=True)
    assert "Sealed" in r.stdout
    assert MARKER not in env.read_bytes()
    out = tmp_path / "out"
    r = decrypt(keydir, out, env)
    assert r.returncode == 0, r.stderr
    assert (out / "evidence" / "files" / "evidence.csv").read_bytes() == src.read_bytes()
    record = json.loads((out / "evidence" / "items.json").read_text())
    (item,) = record["items"].values()
    assert item["original_name"] == "evidence.csv" and item["media_type"] == "text/csv"
    assert stat.S_IMODE((out / "evidence" / "files" / "evidence.csv").stat().st_mode) == 0o600


def test_seal_refuses_to_overwrite(pub, tmp_path):
    (tmp_path / "a").write_bytes(b"x")
    (tmp_path / "o").write_bytes(b"keep")
    r = run_offline("seal", "--to", str(pub), str(tmp_path / "a"), "-o", str(tmp_path / "o"))
    assert r.returncode == 1 and (tmp_path / "o").read_bytes() == b"keep"


def test_bundle_and_folder_inputs_and_rerun(keydir, pub, tmp_path):
    p = PublicKey.from_text(pub.read_text())
    make_bundle(
        tmp_path / "b.tar",
        [
            (b"Dear editor, " + MARKER, Metadata("message", "", "text/plain; charset=utf-8")),
            (b"%PDF one", Metadata("file", "memo.pdf", "application/pdf")),
            (b"%PDF two", Metadata("file", "memo.pdf", "application/pdf")),
        ],
        p,
    )
    folder = tmp_path / "loose"
    folder.mkdir()
    (folder / "x1.envelope").write_bytes(seal_bytes(b"loose one", Metadata("file", "one.txt", ""), [p]))
    out = tmp_path / "out"
    r = decrypt(keydir, out, tmp_path / "b.tar", folder)
    assert r.returncode == 0, r.stderr
    assert "decrypted 4 item(s) from 2 submission(s)" in r.stdout
    sub = out / "sub_0123456789"
    assert (sub / "message.txt").read_bytes() == b"Dear editor, " + MARKER
    # Same name twice in one submission: the second gets a counter, nothing is overwritten.
    assert (sub / "files" / "memo.pdf").read_bytes() == b"%PDF one"
    assert (sub / "files" / "memo (2).pdf").read_bytes() == b"%PDF two"
    assert (out / "x1" / "files" / "one.txt").read_bytes() == b"loose one"
    record = json.loads((sub / "items.json").read_text())
    assert record["sealed_by"] == "browser" and record["received_hour"] == "2026-11-26T15:00Z"

    before = {p: p.stat().st_mtime_ns for p in files_under(out) if p.name != "items.json"}
    r = decrypt(keydir, out, tmp_path / "b.tar", folder)
    assert r.returncode == 0 and "skipped 4 already decrypted" in r.stdout
    assert {p: p.stat().st_mtime_ns for p in files_under(out) if p.name != "items.json"} == before


# -- failures: each its own exit code, and nothing left behind ---------------------------


@pytest.fixture
def sealed(pub, tmp_path) -> Path:
    env = tmp_path / "in" / "tip.envelope"
    env.parent.mkdir()
    p = PublicKey.from_text(pub.read_text())
    env.write_bytes(seal_bytes(MARKER * 10_000, Metadata("file", "t.bin", ""), [p]))
    return env


def test_wrong_passphrase_exit_3(keydir, sealed, tmp_path):
    (tmp_path / "wrong").write_text("not the passphrase\n")
    r = decrypt(keydir, tmp_path / "out", sealed, pw=tmp_path / "wrong")
    assert r.returncode == 3
    assert "passphrase does not open" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert files_under(tmp_path / "out") == []


def test_not_a_recipient_exit_4(keydir, tmp_path):
    other = SecretKey.generate().public_key
    env = tmp_path / "other.envelope"
    env.write_bytes(seal_bytes(MARKER, Metadata("message"), [other]))
    r = decrypt(keydir, tmp_path / "out", env)
    assert r.returncode == 4
    assert "not sealed to your key" in r.stderr
    assert_no_plaintext(tmp_path / "out")


@pytest.mark.parametrize("damage", ["flip_last", "flip_middle", "truncate_chunk", "truncate_byte", "append"])
def test_damaged_input_exit_5_no_plaintext(keydir, sealed, tmp_path, damage):
    data = bytearray(sealed.read_bytes())
    if damage == "flip_last":
        data[-3] ^= 0x40
    elif damage == "flip_middle":
        data[len(data) // 2] ^= 1
    elif damage == "truncate_chunk":
        data = data[: 9 + 88 + 24 + 65553 * 2]
    elif damage == "truncate_byte":
        data = data[:-1]
    else:
        data += b"\0"
    sealed.write_bytes(bytes(data))
    out = tmp_path / "out"
    r = decrypt(keydir, out, sealed)
    assert r.returncode == 5, r.stderr
    assert "could not authenticate" in r.stderr.lower()
    assert "fresh export" in r.stderr
    assert_no_plaintext(out)
    assert not list(out.rglob("files"))


def test_damaged_among_good_items_keeps_the_good_ones(keydir, pub, tmp_path):
    p = PublicKey.from_text(pub.read_text())
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.envelope").write_bytes(seal_bytes(b"good", Metadata("file", "g.txt", ""), [p]))
    bad = bytearray(seal_bytes(MARKER, Metadata("file", "b.txt", ""), [p]))
    bad[-1] ^= 1
    (folder / "bad.envelope").write_bytes(bytes(bad))
    (folder / "notes.txt").write_text("not an envelope")
    r = decrypt(keydir, tmp_path / "out", folder)
    assert r.returncode == 5
    assert (tmp_path / "out" / "good" / "files" / "g.txt").read_bytes() == b"good"
    assert "notes.txt: This is not a Tipline envelope" in r.stderr
    assert_no_plaintext(tmp_path / "out")


def test_stale_partial_files_are_swept(keydir, sealed, tmp_path):
    out = tmp_path / "out"
    (out / "tip").mkdir(parents=True)
    stale = out / "tip" / ".tipline-deadbeef.part"
    stale.write_bytes(MARKER)  # as if a previous run was killed mid-item
    assert decrypt(keydir, out, sealed).returncode == 0
    assert not stale.exists()


# -- hostile names and bundles ------------------------------------------------------------

HOSTILE = [
    "../../../../tmp/tipline-escape",
    "/etc/passwd",
    "..",
    ".",
    "",
    "a\x00b",
    "CON",
    "nul.txt",
    "evil\u202egpj.exe",
    "\uff0e\uff0e\uff0fescape",
    "x" * 5000,
    "\u2215etc\u2215shadow",
    "C:\\Windows\\win.ini",
    "line\nbreak",
    "-rf",
    ".bashrc",
]


def test_hostile_names_stay_inside_out(keydir, pub, tmp_path):
    p = PublicKey.from_text(pub.read_text())
    names = [n[:1024] for n in HOSTILE]
    make_bundle(tmp_path / "h.tar", [(n.encode(), Metadata("file", n, "")) for n in names], p)
    out = tmp_path / "out"
    r = decrypt(keydir, out, tmp_path / "h.tar")
    assert r.returncode == 0, r.stderr
    files = files_under(out / "sub_0123456789" / "files")
    assert len(files) == len(names)
    real_out = out.resolve()
    for f in files:
        assert f.resolve().parent == real_out / "sub_0123456789" / "files"
        assert not f.name.startswith((".", "-"))
        assert len(f.name.encode()) <= 200
    assert not Path("/tmp/tipline-escape").exists()
    record = json.loads((out / "sub_0123456789" / "items.json").read_text())
    assert sorted(i["original_name"] for i in record["items"].values()) == sorted(names)
    for item in record["items"].values():  # each saved file holds its own original name
        assert (out / "sub_0123456789" / item["saved_as"]).read_bytes() == item["original_name"].encode()


def _raw_tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def raw_manifest(sid: str, envelopes: list[str]) -> dict:
    """A manifest written by hand, so a test can put anything in it."""
    return {
        "format": "tipline-bundle",
        "version": 1,
        "created_hour": "2026-11-26T15:00Z",
        "submissions": [
            {"id": sid, "received_hour": "2026-11-26T15:00Z", "sealed_by": "server", "envelopes": envelopes}
        ],
    }


@pytest.mark.parametrize("sid", ["../../escape", "/abs", "a" * 65, "short", "x/y_12345678"])
def test_hostile_bundle_manifest_refused(keydir, pub, tmp_path, sid):
    p = PublicKey.from_text(pub.read_text())
    env = seal_bytes(MARKER, Metadata("message"), [p])
    manifest = raw_manifest(sid, [f"{sid}/0.envelope"])
    _raw_tar(
        tmp_path / "evil.tar", {"manifest.json": json.dumps(manifest).encode(), f"{sid}/0.envelope": env}
    )
    r = decrypt(keydir, tmp_path / "out", tmp_path / "evil.tar")
    assert r.returncode == 5
    assert "submission id" in r.stderr
    assert_no_plaintext(tmp_path)
    assert not (tmp_path / "escape").exists()


def test_bundle_missing_member_and_extra_members(keydir, pub, tmp_path):
    p = PublicKey.from_text(pub.read_text())
    sid = "sub_0123456789"
    manifest = raw_manifest(sid, [f"{sid}/0.envelope", f"{sid}/1.envelope"])
    _raw_tar(
        tmp_path / "b.tar",
        {
            "manifest.json": json.dumps(manifest).encode(),
            f"{sid}/0.envelope": seal_bytes(b"first", Metadata("message"), [p]),
            "../../outside.envelope": seal_bytes(MARKER, Metadata("message"), [p]),
        },
    )
    r = decrypt(keydir, tmp_path / "out", tmp_path / "b.tar")
    assert r.returncode == 5
    assert "does not contain" in r.stderr
    assert (tmp_path / "out" / sid / "message.txt").read_bytes() == b"first"
    assert_no_plaintext(tmp_path / "out")


def test_truncated_bundle(keydir, pub, tmp_path):
    make_bundle(
        tmp_path / "b.tar",
        [(b"x" * 100_000, Metadata("file", "x", ""))],
        PublicKey.from_text(pub.read_text()),
    )
    data = (tmp_path / "b.tar").read_bytes()
    (tmp_path / "b.tar").write_bytes(data[: len(data) // 2])
    r = decrypt(keydir, tmp_path / "out", tmp_path / "b.tar")
    assert r.returncode == 5
    assert_no_plaintext(tmp_path / "out")


# -- docs kept true ------------------------------------------------------------------------


@pytest.mark.parametrize("cmd", [[], ["keygen"], ["fingerprint"], ["seal"], ["decrypt"], ["reply"]])
def test_help(cmd):
    r = run_offline(*cmd, "--help", check=True)
    assert "usage: tipline-offline" in r.stdout


def test_missing_input_is_usage_error(keydir, tmp_path):
    r = decrypt(keydir, tmp_path / "out", tmp_path / "nope.tar")
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_public_key_file_with_non_ascii_is_a_clear_error(keydir, tmp_path):
    text = (keydir / "journalist.pub").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("tipline-pub1-"))
    bad = tmp_path / "bad.pub"
    bad.write_text(text.replace(line, line[:20] + "é" + line[21:]))
    for args in (["fingerprint", str(bad)], ["seal", str(bad), "--to", str(bad), "-o", str(tmp_path / "e")]):
        r = run_offline(*args)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        assert "'é', which is not part of any key" in r.stderr
