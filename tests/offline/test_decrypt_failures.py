"""One bad item never stops the others, and a stopped run leaves no plaintext behind.

Issue 9, findings 1, 6 and 10: a poisoned envelope, local file-system trouble,
an error nobody foresaw, a copied envelope, and SIGTERM or SIGHUP mid-item.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import decrypt_with
from tests.offline import bombs
from tests.offline.bombs import seal_meta
from tipline.format.keys import PublicKey
from tipline.format.payload import Metadata
from tipline.format.stream import EnvelopeWriter, seal_bytes
from tipline.offline.decrypt import DecryptJob
from tipline.offline.files import json_bytes as _record_bytes


def poisoned(pub: PublicKey) -> bytes:
    # What a hostile source's own script can send: the server cannot look inside.
    return seal_meta(b"poison", b'{"v":1,"kind":"file","name":"\\ud800.txt","type":"","length":6}', pub)


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def no_parts(folder: Path) -> None:
    assert not [p for p in folder.rglob("*") if p.name.endswith(".part")], listing(folder)


@pytest.fixture(scope="module")
def pub(keydir) -> PublicKey:
    return PublicKey.from_text((keydir / "journalist.pub").read_text())


def test_poisoned_envelope_fails_alone_on_every_run(keydir, pub, tmp_path):
    b = bombs.good_bundle(
        tmp_path / "b.tar",
        {
            "aaaa_first": [seal_bytes(b"first tip", Metadata("message"), [pub])],
            "bbbb_poison": [poisoned(pub)],
            "cccc_after": [
                seal_bytes(b"after tip", Metadata("message"), [pub]),
                seal_bytes(b"after file", Metadata("file", "f.txt", ""), [pub]),
            ],
        },
    )
    out = tmp_path / "out"
    r = decrypt_with(keydir, out, b)
    assert r.returncode == 5, r.stderr
    assert "Traceback" not in r.stderr
    assert "bbbb_poison/0.envelope: The item's metadata holds text that is not valid Unicode." in r.stderr
    assert "decrypted 3 item(s)" in r.stdout
    assert (out / "aaaa_first" / "message.txt").read_bytes() == b"first tip"
    assert (out / "cccc_after" / "message.txt").read_bytes() == b"after tip"
    assert (out / "cccc_after" / "files" / "f.txt").read_bytes() == b"after file"
    assert listing(out / "bbbb_poison") == []
    no_parts(out)
    first = listing(out)
    # A re-run fails the same item the same way, and writes nothing new.
    r = decrypt_with(keydir, out, b)
    assert r.returncode == 5 and "skipped 3 already decrypted" in r.stdout, r.stdout + r.stderr
    assert listing(out) == first


def test_local_file_problem_is_exit_1_and_the_rest_goes_on(keydir, pub, tmp_path):
    b = bombs.good_bundle(
        tmp_path / "b.tar",
        {
            "aaaa_blocked": [seal_bytes(b"cannot land", Metadata("message"), [pub])],
            "bbbb_fine": [seal_bytes(b"lands", Metadata("message"), [pub])],
        },
    )
    out = tmp_path / "out"
    out.mkdir()
    (out / "aaaa_blocked").write_text("a file where the submission folder should be")
    r = decrypt_with(keydir, out, b)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert "aaaa_blocked/0.envelope: Could not write it here:" in r.stderr
    assert "Fix that and run again." in r.stderr
    assert (out / "bbbb_fine" / "message.txt").read_bytes() == b"lands"
    no_parts(out)


def test_an_unforeseen_error_is_that_items_failure(alice, tmp_path):
    # The job's one collaborator that runs inside an item is its progress
    # callback (a terminal that went away raises from it). Here it raises a
    # ValueError on the second item only.
    pub = alice.public_key
    envs = [seal_bytes(b"item %d" % i, Metadata("file", f"{i}.txt", ""), [pub]) for i in range(3)]
    folder = tmp_path / "in"
    folder.mkdir()
    for i, e in enumerate(envs):
        (folder / f"s{i}.envelope").write_bytes(e)
    calls = {"n": 0}
    header_len = 9 + 88 + 24

    def progress(n: int) -> None:
        if n == header_len:
            calls["n"] += 1
            if calls["n"] == 2:
                raise ValueError("boom")

    out = tmp_path / "out"
    summary = DecryptJob(out, [alice], progress).run([folder])
    assert summary.decrypted == 2
    [failure] = summary.failures
    assert failure.label == "s1.envelope" and failure.kind == "damaged"
    assert "unexpected ValueError" in failure.message and "boom" not in failure.message
    assert (out / "s0" / "files" / "0.txt").read_bytes() == b"item 0"
    assert (out / "s2" / "files" / "2.txt").read_bytes() == b"item 2"
    no_parts(out)


def test_items_json_is_writable_whatever_a_name_holds():
    # The format refuses lone surrogates now; the record must not depend on it.
    for name in ["Ünïcode.pdf", "\ud800.txt", "a\udfff\x00\u202e"]:
        record = {"items": {"x": {"original_name": name}}}
        data = _record_bytes(record)
        assert json.loads(data.decode("utf-8")) == record
    assert "Ünïcode.pdf".encode() in _record_bytes({"n": "Ünïcode.pdf"})  # readable, not escaped


def test_same_envelope_twice_in_one_submission_is_damage(keydir, pub, tmp_path):
    env = seal_bytes(b"once", Metadata("message"), [pub])
    b = bombs.good_bundle(tmp_path / "b.tar", {"sub_0123456789": [env, env]})
    out = tmp_path / "out"
    r = decrypt_with(keydir, out, b)
    assert r.returncode == 5, r.stderr
    assert "sub_0123456789/1.envelope: This envelope is a second copy" in r.stderr
    assert "skipped" not in r.stdout
    assert listing(out / "sub_0123456789") == ["items.json", "message.txt"]


def test_overlapping_exports_in_one_run_skip_quietly(keydir, pub, tmp_path):
    # Two exports that both hold a submission are not damage: the second is a re-run.
    items = {"sub_0123456789": [seal_bytes(b"once", Metadata("message"), [pub])]}
    b1 = bombs.good_bundle(tmp_path / "b1.tar", items)
    b2 = bombs.good_bundle(tmp_path / "b2.tar", items)
    r = decrypt_with(keydir, tmp_path / "out", b1, b2)
    assert r.returncode == 0, r.stderr
    assert "decrypted 1 item(s)" in r.stdout and "skipped 1 already decrypted" in r.stdout


def test_stale_parts_swept_in_the_whole_output_folder(keydir, pub, tmp_path):
    out = tmp_path / "out"
    (out / "untouched_folder").mkdir(parents=True)
    stale = [
        out / "untouched_folder" / ".tipline-0123.part",
        out / "untouched_folder" / ".tipline-record.part",
    ]
    for p in stale:
        p.write_bytes(b"plaintext of a killed run")
    keep = out / "untouched_folder" / "files"
    keep.mkdir()
    (keep / ".tipline-not-ours.part").write_bytes(b"a source's file, saved under this name")
    env = tmp_path / "other.envelope"
    env.write_bytes(seal_bytes(b"x", Metadata("message"), [pub]))
    assert decrypt_with(keydir, out, env).returncode == 0
    assert not any(p.exists() for p in stale)
    assert (keep / ".tipline-not-ours.part").exists()  # only where the tool puts its own


# -- signals -----------------------------------------------------------------------------

BIG = 200 * 1024 * 1024


@pytest.fixture(scope="module")
def big_envelope(tmp_path_factory, alice) -> Path:
    env = tmp_path_factory.mktemp("big") / "big.envelope"
    block = b"PLAINTEXT-MARKER " * (1 << 16)
    with open(env, "wb") as f:
        w = EnvelopeWriter(f, [alice.public_key])
        for _ in range(BIG // len(block)):
            w.write(block)
        w.close(Metadata("file", "big.bin", ""))
    return env


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_signal_mid_decrypt_leaves_no_plaintext(big_envelope, alice, tmp_path, signum):
    key, pw = bombs.cheap_key(tmp_path, alice)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tipline.offline",
            "decrypt",
            str(big_envelope),
            "--key",
            str(key),
            "--out",
            str(out),
            "--passphrase-file",
            str(pw),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Wait until plaintext is being written, then freeze the tool there, so
        # the signal lands mid-item however fast this machine decrypts.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            parts = list((out / "big").glob(".tipline-*.part")) if (out / "big").exists() else []
            if parts and parts[0].stat().st_size > 0:
                break
            time.sleep(0.002)
        proc.send_signal(signal.SIGSTOP)
        [part] = list((out / "big").glob(".tipline-*.part"))
        assert b"PLAINTEXT-MARKER" in part.read_bytes()[:100]
        proc.send_signal(signum)
        proc.send_signal(signal.SIGCONT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signum, stderr
    assert "interrupted; nothing partial was kept" in stderr and "Traceback" not in stderr
    assert listing(out) == ["big"]  # the folder it was working in, empty


@pytest.mark.slow
def test_sigterm_inside_a_conversation_then_a_rerun_finishes_the_thread(big_envelope, alice, tmp_path):
    from tipline.format.bundle import ConversationEntry, SubmissionEntry, envelope_member, iter_bundle

    cid, sid, hour = "conv_0123456789", "tip_0123456789", "2026-11-26T15:00Z"
    entry = SubmissionEntry(sid, hour, "browser", (envelope_member(sid, 0),), cid)
    bundle = tmp_path / "b.tar"
    size = big_envelope.stat().st_size
    with open(bundle, "wb") as f:
        opener = lambda _m: (open(big_envelope, "rb"), size)  # noqa: E731, SIM115 (iter_bundle closes it)
        pieces = iter_bundle([entry], "2026-11-27T00:00Z", opener,
                             conversations=[ConversationEntry(cid, bytes(32))],
                             newsroom_keys=[alice.public_key.raw])  # fmt: skip
        for piece in pieces:
            f.write(piece)
    key, pw = bombs.cheap_key(tmp_path, alice)
    out = tmp_path / "out"
    item = out / f"conversation-{cid}" / f"2026-11-26T1500Z-source-{sid}"
    cmd = [sys.executable, "-m", "tipline.offline", "decrypt", str(bundle), "--key", str(key),
           "--out", str(out), "--passphrase-file", str(pw)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            parts = list(item.glob(".tipline-*.part")) if item.exists() else []
            if parts and parts[0].stat().st_size > 0:
                break
            time.sleep(0.002)
        proc.send_signal(signal.SIGSTOP)
        assert list(item.glob(".tipline-*.part")), "the tool was not caught mid-item"
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGCONT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert not [p for p in out.rglob("*.part")]
    assert (out / f"conversation-{cid}" / "conversation.json").exists()  # written before any item

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    (record,) = json.loads((item / "items.json").read_text())["items"].values()
    big = item / "files" / "big.bin"
    assert big.stat().st_size == record["length"] > BIG // 2
    with open(big, "rb") as f:
        assert f.read(16) == b"PLAINTEXT-MARKER"
    thread = (out / f"conversation-{cid}" / "thread.txt").read_text()
    assert f"Attached (in {item.name}/): files/big.bin" in thread
