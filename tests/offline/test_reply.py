"""tipline-offline reply: a real conversation folder from a real bundle, a real subprocess, a real store.

The envelope it writes opens with the source's codename-derived key and with
the journalist's; the store keeps it for its conversation and refuses it for
another; the next bundle brings it back into thread.txt. Every refusal is one
clear line with the tool's exit code, and writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import decrypt_with, run_offline, run_tipline
from tests.offline.newsroom import Newsroom, journalist_secret
from tests.store.conversation_helpers import Source
from tipline.format.keys import SecretKey
from tipline.format.stream import decrypt_bytes
from tipline.store.conversations import NotForThisSource

TEXT = "Thank you. Could we meet?\nÜnïcödé and 😀 survive.\n"


@pytest.fixture(scope="module")
def decrypted(tmp_path_factory, keydir):
    """One newsroom with two conversations, exported and decrypted once for the whole module."""
    base = tmp_path_factory.mktemp("reply")
    room = Newsroom.make(base / "data", keydir)
    src, other = Source.new(), Source.new()
    _, cid = room.tip("Please answer offline.", source=src)
    _, other_cid = room.tip("Someone else.", source=other)
    out = base / "out"
    r = decrypt_with(keydir, out, room.export(base / "b.tar"))
    assert r.returncode == 0, r.stderr
    return {"room": room, "src": src, "cid": cid, "other": other_cid, "out": out, "base": base}


def reply(folder: Path, message: Path, out: Path):
    return run_offline("reply", str(folder), "--message-file", str(message), "-o", str(out))


def test_reply_opens_for_source_and_newsroom_and_comes_back_in_the_thread(decrypted, tmp_path, keydir):
    room, src, cid = decrypted["room"], decrypted["src"], decrypted["cid"]
    folder = decrypted["out"] / f"conversation-{cid}"
    (tmp_path / "m.txt").write_text(TEXT, "utf-8")
    r = reply(folder, tmp_path / "m.txt", tmp_path / "r.envelope")
    assert r.returncode == 0, r.stderr
    assert f"conversation {cid}" in r.stdout and "1 newsroom key(s)" in r.stdout
    envelope = (tmp_path / "r.envelope").read_bytes()

    for key in (src.secret_key, journalist_secret(keydir)):  # the codename's key, and the newsroom's
        meta, content = decrypt_bytes(envelope, [key])
        assert (meta.kind, content) == ("message", TEXT.encode())
    with pytest.raises(NotForThisSource):
        room.add_envelope(decrypted["other"], envelope)
    rid = room.add_envelope(cid, envelope, journalist="ana")
    assert not (tmp_path / ".r.envelope.part").exists()

    out = decrypted["out"]
    r = decrypt_with(keydir, out, room.export(tmp_path / "later.tar"))
    assert r.returncode == 0, r.stderr
    thread = (folder / "thread.txt").read_text()
    assert "Newsroom (ana) ---\n\nThank you. Could we meet?\nÜnïcödé and 😀 survive." in thread
    record = json.loads((folder / "conversation.json").read_text())
    assert [i["sealed_by"] for i in record["items"] if i["id"] == rid] == ["offline"]


def test_the_largest_reply_is_accepted(decrypted, tmp_path):
    folder = decrypted["out"] / f"conversation-{decrypted['cid']}"
    (tmp_path / "m.txt").write_bytes(b"\xef\xbb\xbf" + "é".encode() * (32 * 1024))  # 64 KiB and a BOM
    r = reply(folder, tmp_path / "m.txt", tmp_path / "r.envelope")
    assert r.returncode == 0, r.stderr
    _meta, content = decrypt_bytes((tmp_path / "r.envelope").read_bytes(), [decrypted["src"].secret_key])
    assert content == "é".encode() * (32 * 1024)  # the byte-order mark is not part of the text
    decrypted["room"].add_envelope(decrypted["cid"], (tmp_path / "r.envelope").read_bytes())


def _damage(folder: Path, field: str, value: object) -> None:
    doc = json.loads((folder / "conversation.json").read_text())
    doc[field] = value
    (folder / "conversation.json").write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("case", "code", "says"),
    [
        ("not-a-conversation", 2, "is not a conversation folder"),
        ("item-folder", 2, "is not a conversation folder"),
        ("no-message-file", 2, "does not exist"),
        ("empty", 2, "is empty"),
        ("blank", 2, "is empty"),
        ("not-utf8", 2, "is not UTF-8 text"),
        ("too-long", 2, "longer than the 65,536 bytes"),
        ("out-exists", 1, "already exists"),
        ("damaged-record", 5, "is damaged"),
        ("bad-source-key", 5, "no valid source key"),
        ("small-order-source-key", 5, "point of small order"),  # a hostile bundle's; no traceback
        ("no-newsroom-keys", 1, "records no newsroom key"),
    ],
)
def test_refusals_are_clear_and_write_nothing(decrypted, tmp_path, case, code, says):
    src_folder = decrypted["out"] / f"conversation-{decrypted['cid']}"
    folder = tmp_path / src_folder.name
    folder.mkdir()
    (folder / "conversation.json").write_bytes((src_folder / "conversation.json").read_bytes())
    message, out = tmp_path / "m.txt", tmp_path / "r.envelope"
    message.write_text("A fine reply.")
    if case == "not-a-conversation":
        folder = decrypted["out"]
    elif case == "item-folder":
        folder = next(p for p in src_folder.iterdir() if p.is_dir())
    elif case == "no-message-file":
        message = tmp_path / "missing.txt"
    elif case == "empty":
        message.write_bytes(b"")
    elif case == "blank":
        message.write_text(" \n\t\n")
    elif case == "not-utf8":
        message.write_bytes(b"caf\xe9 latin-1")
    elif case == "too-long":
        message.write_bytes(b"a" * (64 * 1024 + 1))
    elif case == "out-exists":
        out.write_bytes(b"keep me")
    elif case == "damaged-record":
        (folder / "conversation.json").write_text('{"format": "tipline-conv')
    elif case == "bad-source-key":
        _damage(folder, "source_public_key", "00" * 31)
    elif case == "small-order-source-key":
        _damage(folder, "source_public_key", "00" * 32)
    elif case == "no-newsroom-keys":
        _damage(folder, "newsroom_keys", [])
    before = sorted(p.name for p in tmp_path.iterdir())

    r = reply(folder, message, out)

    assert r.returncode == code, r.stderr
    assert says in r.stderr and r.stderr.startswith("tipline-offline: ") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, no .part left
    if case == "out-exists":
        assert out.read_bytes() == b"keep me"


def test_a_bundle_without_the_journalists_key_still_gets_a_reply_they_can_read(tmp_path, keydir):
    """The bundle's newsroom keys come from the server. One that leaves out the key the journalist
    decrypted with (a hostile server swapping in its own, or a key retired since) must not make
    the journalist seal a reply only to keys they do not hold: the reply is sealed to their key
    too, and the tool says the bundle did not list it."""
    room = Newsroom.make(tmp_path / "data", keydir)
    src = Source.new()
    _, cid = room.tip("Answer me offline.", source=src)
    stranger = SecretKey.generate()
    (tmp_path / "stranger.pub").write_text(stranger.public_key.to_text())
    run_tipline("keys", "add", "--data-dir", str(room.data), str(tmp_path / "stranger.pub"))
    run_tipline("keys", "retire", "--data-dir", str(room.data), room.journalist.fingerprint)
    out = tmp_path / "out"
    r = decrypt_with(keydir, out, room.export(tmp_path / "b.tar"))
    assert r.returncode == 0, r.stderr
    folder = out / f"conversation-{cid}"
    record = json.loads((folder / "conversation.json").read_text())
    assert record["newsroom_keys"] == [stranger.public_key.raw.hex()]  # what the bundle said

    (tmp_path / "m.txt").write_text("Who else reads this?", "utf-8")
    r = reply(folder, tmp_path / "m.txt", tmp_path / "r.envelope")
    assert r.returncode == 0, r.stderr
    assert room.journalist.fingerprint in r.stderr and "tampered with" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    envelope = (tmp_path / "r.envelope").read_bytes()
    for key in (src.secret_key, journalist_secret(keydir), stranger):
        _meta, content = decrypt_bytes(envelope, [key])
        assert content == b"Who else reads this?"


def test_no_warning_when_the_bundle_lists_the_journalists_key(decrypted, tmp_path):
    folder = decrypted["out"] / f"conversation-{decrypted['cid']}"
    (tmp_path / "m.txt").write_text("An ordinary reply.", "utf-8")
    r = reply(folder, tmp_path / "m.txt", tmp_path / "r.envelope")
    assert r.returncode == 0 and r.stderr == ""
