"""Conversations and replies in the store, on a real SQLite file with real codenames and envelopes."""

from __future__ import annotations

import io
import os
import sqlite3
import stat

import pytest
from sqlalchemy import text

from tests.store.conversation_helpers import (
    REPLY_LIMIT,
    Source,
    add_reply,
    first_tip,
    open_store,
    race_first_tips,
    race_replies,
    reply_envelope,
)
from tipline.format.keys import SecretKey
from tipline.format.stream import decrypt_bytes
from tipline.store.conversations import (
    ConversationExists,
    ConversationStore,
    NoSuchConversation,
    NotAnEnvelope,
    NotForThisSource,
    ReplyTooLarge,
)
from tipline.store.db import make_engine
from tipline.store.migrate import migrate, upgrade_engine
from tipline.store.schema import SchemaError
from tipline.store.submissions import IntakeError

JOURNALIST = SecretKey.generate()


@pytest.fixture
def convs(tmp_path) -> ConversationStore:
    return open_store(f"sqlite:///{tmp_path / 'tipline.sqlite3'}", tmp_path / "store")


def rows(convs: ConversationStore, table: str) -> int:
    with convs.store.sessions() as s:
        return s.execute(text(f"select count(*) from {table}")).scalar()


def on_disk(convs: ConversationStore) -> dict[str, list[str]]:
    st = convs.store
    return {d.name: sorted(p.name for p in d.iterdir()) for d in (st.pending, st.done, st.replies)}


def test_a_first_tip_opens_a_conversation_found_only_by_its_verifier_hash(convs):
    source = Source.new()
    cid = first_tip(convs, JOURNALIST.public_key, source)
    found = convs.find(source.derived.verifier_hash)
    assert found is not None and found.id == cid
    assert found.source_public_key == source.public_key and found.kdf_version == 1
    assert found.created_hour == found.last_activity_hour and found.created_hour.endswith(":00Z")
    assert len(cid) >= 22
    assert source.derived.verifier_hash.hex() not in cid and source.derived.public_key.hex() not in cid
    # A wrong hash, a malformed one and the verifier itself (not its hash) all find nothing, and say nothing.
    for wrong in (Source.new().derived.verifier_hash, b"short", source.derived.verifier, "text"):
        assert convs.find(wrong) is None  # type: ignore[arg-type]
    # A tip without a codename works as before.
    plain = convs.store.begin("server", [JOURNALIST.public_key], 1 << 20, 10)
    plain.add_message("no codename")
    plain.commit()
    by_id = {s.id: s.conversation_id for s in convs.store.list()}
    assert set(by_id.values()) == {cid, None} and len(by_id) == 2


def test_a_reply_is_kept_and_opens_for_the_source_and_the_newsroom(convs):
    source = Source.new()
    cid = first_tip(convs, JOURNALIST.public_key, source)
    rid = add_reply(
        convs, cid, reply_envelope("Can you send the memo?", source.public_key, JOURNALIST.public_key)
    )
    data = convs.reply_envelope(rid)
    assert decrypt_bytes(data, [source.secret_key])[1] == b"Can you send the memo?"
    assert decrypt_bytes(data, [JOURNALIST])[1] == b"Can you send the memo?"
    follow = convs.begin_follow_up(cid, "server", [JOURNALIST.public_key], 1 << 20, 10)
    follow.add_message("Here it is.")
    follow.commit()
    thread = convs.thread(cid)
    assert [e.kind for e in thread].count("submission") == 2 and [
        e.id for e in thread if e.kind == "reply"
    ] == [rid]
    assert thread == sorted(thread, key=lambda e: (e.hour, e.id))  # hour, then random id: never arrival
    (reply,) = [e for e in thread if e.kind == "reply"]
    assert (reply.journalist, reply.sealed_by, reply.size, reply.deleted_by_source) == (
        "ana",
        "offline",
        len(data),
        False,
    )
    path = convs.store.replies / rid / "reply.envelope"
    assert stat.S_IMODE(path.stat().st_mode) & ~0o660 == 0
    assert stat.S_IMODE(path.parent.stat().st_mode) & ~0o770 == 0
    assert path.stat().st_mtime_ns % (3600 * 10**9) == 0


def hostile(source: Source) -> dict[str, tuple[bytes, type[IntakeError]]]:
    other = Source.new()
    good = reply_envelope("x", source.public_key, JOURNALIST.public_key)
    return {
        "not an envelope": (b"%PDF-1.7 hello" * 40, NotAnEnvelope),
        "empty": (b"", NotAnEnvelope),
        "only a header": (good[:200], NotAnEnvelope),
        "cut short": (good[:-1], NotAnEnvelope),
        "a byte too many": (good + b"\0", NotAnEnvelope),
        "sealed to another source": (
            reply_envelope("x", other.public_key, JOURNALIST.public_key),
            NotForThisSource,
        ),
        "sealed to the newsroom only": (reply_envelope("x", JOURNALIST.public_key), NotForThisSource),
        "oversize": (reply_envelope("x" * REPLY_LIMIT, source.public_key), ReplyTooLarge),
    }


def test_hostile_reply_uploads_are_refused_and_nothing_is_kept(convs):
    source = Source.new()
    cid = first_tip(convs, JOURNALIST.public_key, source)
    before = on_disk(convs)
    for name, (data, error) in hostile(source).items():
        with pytest.raises(error) as refused:
            add_reply(convs, cid, data)
        message = str(refused.value)
        assert message.endswith(".") and "Nothing was kept" in message, name
        assert on_disk(convs) == before, name
    with pytest.raises(NoSuchConversation):
        add_reply(convs, "nosuchconversation0000", reply_envelope("x", source.public_key))
    assert on_disk(convs) == before and rows(convs, "replies") == 0


def test_two_first_tips_with_one_codename_open_one_conversation(convs):
    source = Source.new()
    results = race_first_tips(convs, JOURNALIST.public_key, source)
    ids = [r for r in results if isinstance(r, str)]
    assert len(ids) == 1 and all(isinstance(r, ConversationExists) for r in results if r not in ids), results
    assert rows(convs, "conversations") == 1 and rows(convs, "submissions") == 1
    assert len(on_disk(convs)["submissions"]) == 1 and on_disk(convs)["pending"] == []  # losers kept nothing


def test_replies_added_in_parallel_are_all_kept(convs):
    source = Source.new()
    cid = first_tip(convs, JOURNALIST.public_key, source)
    ids = race_replies(convs, cid, reply_envelope("parallel", source.public_key))
    assert len(set(ids)) == 24
    assert sorted(e.id for e in convs.thread(cid) if e.kind == "reply") == sorted(ids)
    assert on_disk(convs)["replies"] == sorted(ids)


def test_a_follow_up_to_a_missing_conversation_keeps_nothing(convs):
    follow = convs.begin_follow_up("nosuchconversation0000", "server", [JOURNALIST.public_key], 1 << 20, 10)
    follow.add_message("lost?")
    with pytest.raises(NoSuchConversation):
        follow.commit()
    assert rows(convs, "submissions") == 0 and on_disk(convs) == {
        "pending": [],
        "submissions": [],
        "replies": [],
    }


def test_the_source_deletes_a_reply_they_have_read(convs):
    source, other = Source.new(), Source.new()
    cid = first_tip(convs, JOURNALIST.public_key, source)
    other_cid = first_tip(convs, JOURNALIST.public_key, other)
    rid = add_reply(convs, cid, reply_envelope("read me", source.public_key))
    theirs = add_reply(convs, other_cid, reply_envelope("not yours", other.public_key))
    assert convs.delete_reply(cid, theirs) is False  # another conversation's reply
    assert convs.delete_reply(cid, rid) is True
    assert convs.delete_reply(cid, rid) is False
    assert on_disk(convs)["replies"] == [theirs]
    (reply,) = [e for e in convs.thread(cid) if e.kind == "reply"]
    assert reply.id == rid and reply.deleted_by_source  # the newsroom sees that it was deleted
    assert [e.kind for e in convs.thread(cid, include_deleted=False)] == ["submission"]


def test_deleting_a_conversation_deletes_all_it_holds(convs):
    source, other = Source.new(), Source.new()
    cid = first_tip(convs, JOURNALIST.public_key, source)
    keep = first_tip(convs, JOURNALIST.public_key, other)
    add_reply(convs, cid, reply_envelope("bye", source.public_key))
    kept_reply = add_reply(convs, keep, reply_envelope("stay", other.public_key))
    convs.store.mark_downloaded([s.id for s in convs.store.list()], "ana")
    assert convs.delete([cid, "nosuchconversation0000"]) == 1
    assert convs.find(source.derived.verifier_hash) is None and convs.get(cid) is None
    assert [c.id for c in convs.list()] == [keep]
    assert on_disk(convs)["replies"] == [kept_reply] and len(on_disk(convs)["submissions"]) == 1
    assert (rows(convs, "submissions"), rows(convs, "downloads"), rows(convs, "replies")) == (1, 1, 1)


def test_purging_a_conversations_last_tip_removes_it(convs):
    gone, stays = Source.new(), Source.new()
    gone_cid = first_tip(convs, JOURNALIST.public_key, gone)
    stays_cid = first_tip(convs, JOURNALIST.public_key, stays)
    add_reply(convs, gone_cid, reply_envelope("old", gone.public_key))
    follow = convs.begin_follow_up(stays_cid, "server", [JOURNALIST.public_key], 1 << 20, 10)
    follow.add_message("newer")
    follow.commit()
    with convs.store.sessions.begin() as s:  # age the first tips past the retention period
        s.execute(
            text("update submissions set received_hour = '2020-01-01T00:00Z' where id != :f"),
            {"f": follow.id},
        )
    n = convs.store.delete(convs.store.expired(30, None))
    assert n == 2
    assert convs.get(gone_cid) is None and on_disk(convs)["replies"] == [] and rows(convs, "replies") == 0
    assert [e.id for e in convs.thread(stays_cid)] == [follow.id]


def test_a_reply_whose_row_is_refused_leaves_no_file(convs, tmp_path):
    source = Source.new()
    cid = first_tip(convs, JOURNALIST.public_key, source)
    con = sqlite3.connect(tmp_path / "tipline.sqlite3")
    con.execute("CREATE TRIGGER refuse BEFORE INSERT ON replies BEGIN SELECT RAISE(ABORT, 'refused'); END")
    con.commit()
    con.close()
    before = on_disk(convs)
    with pytest.raises(Exception, match="refused"):
        add_reply(convs, cid, reply_envelope("lost", source.public_key))
    assert on_disk(convs) == before and rows(convs, "replies") == 0


def test_recover_removes_half_written_and_unrecorded_replies(convs):
    source = Source.new()
    cid = first_tip(convs, JOURNALIST.public_key, source)
    keep = add_reply(convs, cid, reply_envelope("kept", source.public_key))
    deleted = add_reply(convs, cid, reply_envelope("deleted", source.public_key))
    with convs.store.sessions.begin() as s:  # a crash after marking, before the file went
        s.execute(text("update replies set deleted_by_source = true where id = :r"), {"r": deleted})
    st = convs.store
    (st.pending / "halfwritten").mkdir()
    (st.pending / "halfwritten" / "reply.envelope").write_bytes(os.urandom(100))
    (st.replies / "norow").mkdir()
    (st.replies / "norow" / "reply.envelope").write_bytes(os.urandom(100))
    assert st.recover() == 3
    assert on_disk(convs)["replies"] == [keep] and on_disk(convs)["pending"] == []


def test_a_database_from_before_conversations_gets_the_column_from_tipline_upgrade(tmp_path):
    db = tmp_path / "old.sqlite3"
    con = sqlite3.connect(db)
    con.execute(
        "CREATE TABLE submissions (id VARCHAR(32) PRIMARY KEY, received_hour VARCHAR(17), "
        "sealed_by VARCHAR(8), "
        "item_count INTEGER, total_size BIGINT, sealed_to VARCHAR(2000), first_download_hour VARCHAR(17)) "
        "WITHOUT ROWID"
    )
    con.execute(
        "CREATE TABLE downloads (submission_id VARCHAR(32) REFERENCES submissions (id) ON DELETE CASCADE, "
        "journalist VARCHAR(64), hour VARCHAR(17), PRIMARY KEY (submission_id, journalist)) WITHOUT ROWID"
    )
    con.execute("INSERT INTO submissions VALUES ('oldtip', '2026-01-01T10:00Z', 'server', 1, 9, 'A', NULL)")
    con.commit()
    con.close()
    with pytest.raises(SchemaError, match="tipline upgrade"):  # the apps refuse it as it is
        make_engine(f"sqlite:///{db}")
    engine = upgrade_engine(f"sqlite:///{db}", 0o660)
    assert migrate(engine, "submissions").before.revision == "sub02_accounts_out"  # recognised
    engine.dispose()
    convs = open_store(f"sqlite:///{db}", tmp_path / "store")
    cid = first_tip(convs, JOURNALIST.public_key, Source.new())
    assert {s.id: s.conversation_id for s in convs.store.list()}["oldtip"] is None
    assert len(convs.thread(cid)) == 1
    with pytest.raises(NotForThisSource):
        convs.add_reply(
            cid, io.BytesIO(reply_envelope("x", JOURNALIST.public_key)), "ana", "browser", REPLY_LIMIT
        )
