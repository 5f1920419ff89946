"""Bundles of version 2 end to end: the real store, the real `tipline export`, the real `tipline-offline`.

A conversation decrypts into one folder with a folder per submission and per
reply, a conversation.json and a thread.txt; a newer bundle adds to it and
never overwrites; plain submissions decrypt as before.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tarfile
from pathlib import Path

import pytest

from tests.conftest import decrypt_with, submission_folders
from tests.offline.newsroom import Newsroom
from tests.store.conversation_helpers import Source

H1, H2, H3, H4 = "2026-11-20T10:00Z", "2026-11-20T11:00Z", "2026-11-21T09:00Z", "2026-11-21T12:00Z"


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under folder, with its bytes and inode (a rewrite would change the inode)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_ino)
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.fixture
def world(tmp_path, keydir):
    """A newsroom with one conversation of two tips and three replies (one deleted), and a plain tip."""
    room = Newsroom.make(tmp_path / "data", keydir)
    src = Source.new()
    first, cid = room.tip("First tip: the mayor's accounts.", {"ledger.pdf": b"%PDF ledger"}, source=src)
    assert cid is not None
    r1 = room.reply(cid, src, "Thank you. Who else knows?")
    follow, _ = room.tip("Only the treasurer.\x1b[2J", follow_up=cid)  # an escape that would clear a terminal
    r2 = room.reply(cid, src, "Can you send the 2025 pages?", journalist="bob")
    r3 = room.reply(cid, src, "Please delete this after reading.")
    assert room.convs.delete_reply(cid, r3)
    for table, rid, hour in [("submissions", first, H1), ("replies", r1, H2), ("submissions", follow, H3),
                             ("replies", r2, H4), ("replies", r3, H4)]:  # fmt: skip
        room.set_hour(table, rid, hour)
    plain, _ = room.tip("A tip from before conversations.")
    return {"room": room, "src": src, "cid": cid, "ids": [first, r1, follow, r2, r3], "plain": plain}


def test_export_carries_conversations_and_decrypt_writes_the_thread(world, tmp_path, keydir):
    room, src, cid = world["room"], world["src"], world["cid"]
    first, r1, follow, r2, r3 = world["ids"]
    bundle = room.export(tmp_path / "b.tar")

    with tarfile.open(bundle) as t:  # the stdlib's reader, as a second opinion on the layout
        names = t.getnames()
        manifest = json.load(t.extractfile("manifest.json"))
    assert manifest["version"] == 2
    assert f"replies/{r1}.envelope" in names and f"replies/{r3}.envelope" not in names
    assert manifest["newsroom_keys"] == [room.journalist.raw.hex()]
    (conv,) = manifest["conversations"]
    assert conv["id"] == cid and conv["source_public_key"] == src.public_key.raw.hex()
    replies = [(r["id"], r["journalist"], r["deleted_by_source"], r["envelope"]) for r in conv["replies"]]
    same_hour = sorted([(r2, "bob", False, f"replies/{r2}.envelope"), (r3, "ana", True, None)])
    assert replies == [(r1, "ana", False, f"replies/{r1}.envelope"), *same_hour]  # by hour, then id
    by_id = {s["id"]: s["conversation"] for s in manifest["submissions"]}
    assert by_id == {first: cid, follow: cid, world["plain"]: None}

    out = tmp_path / "out"
    r = decrypt_with(keydir, out, bundle)
    assert r.returncode == 0, r.stderr
    assert "and 2 reply(ies)" in r.stdout

    folder = out / f"conversation-{cid}"
    assert (out / world["plain"] / "message.txt").read_text() == "A tip from before conversations."
    found = submission_folders(out)
    assert found == {world["plain"]: out / world["plain"], first: folder / f"2026-11-20T1000Z-source-{first}",
                     follow: folder / f"2026-11-21T0900Z-source-{follow}"}  # fmt: skip
    items = sorted(p.name for p in folder.iterdir() if p.is_dir())
    first_dir, follow_dir = f"2026-11-20T1000Z-source-{first}", f"2026-11-21T0900Z-source-{follow}"
    reply_dirs = [f"2026-11-20T1100Z-newsroom-{r1}", f"2026-11-21T1200Z-newsroom-{r2}"]
    assert items == sorted([first_dir, follow_dir, *reply_dirs])
    assert (folder / first_dir / "files" / "ledger.pdf").read_bytes() == b"%PDF ledger"
    reply_dir = folder / f"2026-11-20T1100Z-newsroom-{r1}"
    assert (reply_dir / "message.txt").read_text() == "Thank you. Who else knows?"
    assert json.loads((reply_dir / "items.json").read_text())["journalist"] == "ana"

    record = json.loads((folder / "conversation.json").read_text())
    assert record["format"] == "tipline-conversation" and record["version"] == 1
    assert record["conversation"] == cid
    assert record["source_public_key"] == src.public_key.raw.hex()
    assert record["newsroom_keys"] == [room.journalist.raw.hex()]
    same_hour = sorted([("reply", r2), ("reply", r3)], key=lambda x: x[1])
    assert [(i["kind"], i["id"]) for i in record["items"]] == [
        ("submission", first), ("reply", r1), ("submission", follow), *same_hour
    ]  # fmt: skip
    thread = (folder / "thread.txt").read_text()
    order = [
        "--- 2026-11-20 10:00 UTC · Source ---",
        "First tip: the mayor's accounts.",
        f"Attached (in 2026-11-20T1000Z-source-{first}/): files/ledger.pdf",
        "--- 2026-11-20 11:00 UTC · Newsroom (ana) ---",
        "Thank you. Who else knows?",
        "--- 2026-11-21 09:00 UTC · Source ---",
        "Only the treasurer.\ufffd[2J",
    ]
    positions = [thread.index(line) for line in order]
    assert positions == sorted(positions), thread
    tail = thread[positions[-1] :]
    assert "--- 2026-11-21 12:00 UTC · Newsroom (bob) ---\n\nCan you send the 2025 pages?" in tail
    assert "--- 2026-11-21 12:00 UTC · Newsroom (ana) ---\n\n(The source deleted this reply" in tail


def test_a_newer_bundle_adds_to_the_folder_and_never_overwrites(world, tmp_path, keydir):
    room, src, cid = world["room"], world["src"], world["cid"]
    r1 = world["ids"][1]
    old = room.export(tmp_path / "old.tar")
    out = tmp_path / "out"
    assert decrypt_with(keydir, out, old).returncode == 0
    folder = out / f"conversation-{cid}"
    before = snapshot(out)

    r4 = room.reply(cid, src, "One more question.", journalist="carla")
    later, _ = room.tip("Here are the pages.", {"pages.pdf": b"%PDF pages"}, follow_up=cid)
    assert room.convs.delete_reply(cid, r1)  # the source read and deleted a reply we already have
    new = room.export(tmp_path / "new.tar")
    r = decrypt_with(keydir, out, old, new)  # the old one again too: a re-run must change nothing
    assert r.returncode == 0, r.stderr

    after = snapshot(out)
    derived = {f"conversation-{cid}/thread.txt", f"conversation-{cid}/conversation.json"}
    for name, (data, inode) in before.items():
        if name not in derived:
            assert after[name] == (data, inode), f"{name} was rewritten"
    assert not [n for n in after if " (2)" in n], "an item was decrypted twice"
    hour = room.convs.thread(cid)[-1].hour.replace(":", "")[:15] + "Z"
    assert (folder / f"{hour}-newsroom-{r4}" / "message.txt").read_text() == "One more question."
    assert (folder / f"{hour}-source-{later}" / "files" / "pages.pdf").read_bytes() == b"%PDF pages"
    thread = (folder / "thread.txt").read_text()
    assert "Newsroom (carla)" in thread and "Here are the pages." in thread
    assert "Thank you. Who else knows?\n\n(The source has since deleted this reply.)" in thread
    assert (folder / f"2026-11-20T1100Z-newsroom-{r1}" / "message.txt").exists()  # kept: never removed
    record = json.loads((folder / "conversation.json").read_text())
    assert next(i for i in record["items"] if i["id"] == r1)["deleted_by_source"] is True


def test_a_bundle_that_changes_a_source_key_is_refused_for_that_conversation(world, tmp_path, keydir):
    room, cid = world["room"], world["cid"]
    out = tmp_path / "out"
    assert decrypt_with(keydir, out, room.export(tmp_path / "a.tar")).returncode == 0
    before = snapshot(out)
    con = sqlite3.connect(room.data / "tipline.sqlite3")
    with con:
        con.execute("update conversations set source_public_key = ? where id = ?", ("ab" * 32, cid))
    con.close()
    room.tip("Another plain tip.")
    r = decrypt_with(keydir, out, room.export(tmp_path / "b.tar"))
    assert r.returncode == 5
    assert f"conversation {cid}: The bundle gives conversation {cid} another source key" in r.stderr
    assert "Traceback" not in r.stderr
    after = snapshot(out)
    assert {k: v for k, v in after.items() if k in before} == before  # its folder is untouched
    assert any(k.endswith("message.txt") and v[0] == b"Another plain tip." for k, v in after.items())


def test_items_json_and_thread_txt_are_private(world, tmp_path, keydir):
    out = tmp_path / "out"
    assert decrypt_with(keydir, out, world["room"].export(tmp_path / "b.tar")).returncode == 0
    folder = out / f"conversation-{world['cid']}"
    for name in ("thread.txt", "conversation.json"):
        assert os.stat(folder / name).st_mode & 0o777 == 0o600
    assert os.stat(folder).st_mode & 0o777 == 0o700


def test_the_journalist_apps_download_carries_the_keyring(world):
    """The web download calls iter_export(store, subs) alone: the keys beside the store still travel."""
    import io

    from tipline.format.bundle import read_manifest
    from tipline.format.ustar import MemberFile, TarReader
    from tipline.store.export import iter_export

    room = world["room"]
    blob = io.BytesIO(b"".join(iter_export(room.convs.store, room.convs.store.list())))
    first = next(TarReader(blob).members())
    manifest = read_manifest(MemberFile(blob, first).read())
    assert manifest.newsroom_keys == (room.journalist.raw,)
    assert [c.id for c in manifest.conversations] == [world["cid"]]


def test_stale_parts_are_swept_in_conversation_and_item_folders(world, tmp_path, keydir):
    room, cid = world["room"], world["cid"]
    out = tmp_path / "out"
    assert decrypt_with(keydir, out, room.export(tmp_path / "a.tar")).returncode == 0
    folder = out / f"conversation-{cid}"
    item = next(p for p in folder.iterdir() if (p / "files").is_dir())
    stale = [folder / ".tipline-thread.part", folder / ".tipline-conversation.part",
             item / ".tipline-0123456789abcdef.part", item / ".tipline-record.part"]  # fmt: skip
    for p in stale:
        p.write_bytes(b"unauthenticated plaintext")
    theirs = item / "files" / ".tipline-not-ours.part"  # deeper than the tool ever writes: not touched
    theirs.write_bytes(b"mine")
    r = decrypt_with(keydir, out, room.export(tmp_path / "b.tar"))
    assert r.returncode == 0, r.stderr
    assert not any(p.exists() for p in stale)
    assert theirs.read_bytes() == b"mine"


def test_a_reply_not_sealed_to_us_fails_alone_and_the_thread_says_so(world, tmp_path, keydir):
    from tests.store.conversation_helpers import reply_envelope
    from tipline.format.keys import SecretKey

    room, src, cid = world["room"], world["src"], world["cid"]
    stranger = SecretKey.generate().public_key  # a newsroom key this machine does not hold
    lost = room.add_envelope(cid, reply_envelope("Sealed past us.", src.public_key, stranger))
    r = decrypt_with(keydir, tmp_path / "out", room.export(tmp_path / "b.tar"))
    assert r.returncode == 4, r.stderr
    assert f"replies/{lost}.envelope" in r.stderr and "Traceback" not in r.stderr
    thread = (tmp_path / "out" / f"conversation-{cid}" / "thread.txt").read_text()
    assert "Thank you. Who else knows?" in thread and "Only the treasurer." in thread
    assert "(Not decrypted here yet" in thread


def test_export_refuses_to_write_a_bundle_the_offline_tool_would_refuse(world, tmp_path):
    from tests.conftest import run_tipline
    from tests.store.conversation_helpers import reply_envelope

    room, src, cid = world["room"], world["src"], world["cid"]
    envelope = reply_envelope("From nobody.", src.public_key, room.journalist)
    room.add_envelope(cid, envelope, journalist="no one")  # the store takes any name; a bundle cannot
    r = run_tipline("export", "--data-dir", str(room.data), "--out", str(tmp_path / "b.tar"), check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "would not be readable" in r.stderr and "no account name" in r.stderr
    assert list(tmp_path.glob("*b.tar*")) == []
