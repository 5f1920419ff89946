"""The journalist app's side of conversations over real HTTP: the list, the thread, replies, refusals.

Real gunicorn for both apps on one data folder, a real SQLite file, conversations opened
with a real codename's key pair, and every reply opened again in Python with the
newsroom's key and with the source's.
"""

from __future__ import annotations

import io
import re
import sqlite3
import tarfile

import pytest

from tests.conftest import decrypt_with
from tests.store.conversation_helpers import reply_envelope
from tests.web.diskwatch import DiskWatch
from tests.web.newsroom import (
    login,
    newsroom_secret,
    opens,
    reply_rows,
    start_newsroom,
    token_of,
    unknown_id,
    upload,
)
from tests.web.server import multipart
from tipline.format.keys import SecretKey
from tipline.store.replies import MAX_REPLY_ENVELOPE, MAX_REPLY_TEXT

SQLITE_OWN = re.compile(r"^etilqs_|-(journal|wal|shm|mj[0-9A-F]+)$")


@pytest.fixture(scope="module")
def room(tmp_path_factory, keydir):
    nr = start_newsroom(tmp_path_factory.mktemp("room"), keydir)
    yield nr
    nr.stop()


@pytest.fixture(scope="module")
def newsroom_key(keydir) -> SecretKey:
    return newsroom_secret(keydir)


@pytest.fixture
def j(room, request):
    """The journalist app, logged in as a journalist of this test's own (a TOTP code works once)."""
    name = room.enrol(re.sub(r"[^a-z0-9]", "", request.node.name.lower())[-30:])
    login(room.journalist, name, room.totp[name])
    room.journalist.name = name
    return room.journalist


def stored_replies(room) -> list[str]:
    return sorted(p.name for p in (room.data_dir / "store" / "replies").iterdir())


def everything_on_disk(*folders) -> list[tuple[str, bytes]]:
    return [(str(p), p.read_bytes()) for f in folders for p in sorted(f.rglob("*")) if p.is_file()]


def test_the_list_groups_submissions_into_conversations_newest_activity_first(room, j):
    old, old_source = room.open_conversation("older conversation")
    new, _ = room.open_conversation("newer conversation")
    follow = room.convs.begin_follow_up(old, "server", [room.newsroom_key], 1 << 20, 10)
    follow.add_message("a follow-up")
    follow.commit()
    rid = room.convs.add_reply(
        old,
        io.BytesIO(reply_envelope("a question", old_source.public_key, room.newsroom_key)),
        "ana",
        "offline",
        MAX_REPLY_ENVELOPE,
    )
    assert room.convs.delete_reply(old, rid)  # the source read it and deleted it
    # A tip from before conversations (an upgraded database): only the store can make one now.
    lone_tip = room.convs.store.begin("server", [room.newsroom_key], 1 << 20, 10)
    lone_tip.add_message("a lone tip")
    lone_tip.commit()
    lone = next(s.id for s in room.convs.store.list() if s.conversation_id is None)
    # Hours, so the order is the activity's and not the order of the rows: old < lone < new.
    con = sqlite3.connect(room.data_dir / "tipline.sqlite3")
    con.execute("update conversations set last_activity_hour = '2030-01-01T05:00Z' where id = ?", (old,))
    con.execute("update conversations set last_activity_hour = '2030-01-01T09:00Z' where id = ?", (new,))
    con.execute("update submissions set received_hour = '2030-01-01T07:00Z' where id = ?", (lone,))
    con.commit()
    con.close()

    page = j.get("/").body.decode()
    sections = re.findall(
        r'<section class="(conversation|lone)"[^>]*data-(?:conversation|submission)-id="([^"]+)"', page
    )
    order = [sid for _, sid in sections]
    assert order.index(new) < order.index(lone) < order.index(old)
    assert ("lone", lone) in sections and ("conversation", old) in sections
    old_section = page[page.index(f'data-conversation-id="{old}"') :]
    old_section = old_section[: old_section.index("</section>")]
    subs = [s.id for s in room.convs.store.list() if s.conversation_id == old]
    assert len(subs) == 2 and all(f'name="id" value="{s}"' in old_section for s in subs)
    assert f'data-reply-id="{rid}"' in old_section
    assert "Reply from ana" in old_section and "deleted by the source" in old_section
    assert f'name="conversation" value="{old}"' in old_section
    assert f'href="/conversations/{old}"' in old_section


def test_a_conversation_page_shows_the_thread_and_an_unknown_one_is_a_plain_404(room, j):
    cid, source = room.open_conversation("thread check")
    rid = room.convs.add_reply(
        cid,
        io.BytesIO(reply_envelope("q", source.public_key, room.newsroom_key)),
        "bo",
        "offline",
        MAX_REPLY_ENVELOPE,
    )
    r = j.get(f"/conversations/{cid}")
    page = r.body.decode()
    assert r.status == 200
    assert re.search(rf'<li class="reply" data-reply-id="{rid}"><strong>Reply from bo</strong>', page)
    assert 'id="reply"' in page and 'id="send-reply"' in page
    assert 'id="reply-file"' in page and 'id="upload-reply"' in page
    assert "thread check" not in page  # the server has no key: only hours, sizes and names
    r = j.get(f"/conversations/{unknown_id()}")
    assert r.status == 404 and b"Page not found" in r.body
    assert room.source.get(f"/conversations/{cid}").status == 404  # not on the source app


def test_a_reply_without_javascript_is_sealed_in_memory_and_opens_for_both_sides(room, j, newsroom_key):
    cid, source = room.open_conversation("please reply")
    marker = "MARKER-no-js-reply-" + unknown_id()
    text = f"Can you send the second page? {marker} ✓"
    token = token_of(j, f"/conversations/{cid}")
    with DiskWatch([room.data_dir, room.source.tmp_dir]) as watch:
        r = j.post_urlencoded(f"/conversations/{cid}/reply", {"csrf_token": token, "message": text})
    assert r.status == 303 and r.header("Location") == f"/conversations/{cid}?sent=1"
    (row,) = [row for row in reply_rows(room.data_dir) if row[1] == cid]
    rid, _, who, sealed_by, deleted = row
    assert (who, sealed_by, deleted) == (j.name, "server", 0)
    envelope = room.convs.reply_envelope(rid)
    assert opens(envelope, newsroom_key) == text
    assert opens(envelope, source.secret_key) == text
    # No temporary file, nothing written and deleted, and the text nowhere on disk.
    assert [
        p for p in watch.created if p.parent == room.source.tmp_dir and not SQLITE_OWN.search(p.name)
    ] == []
    assert [p for p in watch.deleted if p in watch.created and not SQLITE_OWN.search(p.name)] == []
    assert [p for p, data in watch.contents.items() if marker.encode() in data] == []
    assert [
        p for p, data in everything_on_disk(room.data_dir, room.source.tmp_dir) if marker.encode() in data
    ] == []
    page = j.get(f"/conversations/{cid}?sent=1").body.decode()
    assert f'data-reply-id="{rid}"' in page and f"Reply from {j.name}" in page and 'id="reply-sent"' in page


def test_a_reply_too_long_or_empty_is_refused_with_its_text_kept(room, j):
    cid, _ = room.open_conversation("limits")
    before = stored_replies(room)
    long_text = "é" * (MAX_REPLY_TEXT // 2) + "x"  # one byte over, in UTF-8
    r = j.post_urlencoded(
        f"/conversations/{cid}/reply",
        {"csrf_token": token_of(j, f"/conversations/{cid}"), "message": long_text},
    )
    page = r.body.decode()
    assert r.status == 400 and f"longer than the {MAX_REPLY_TEXT:,} bytes" in page
    assert long_text in page  # handed back, so nothing typed is lost
    r = j.post_urlencoded(
        f"/conversations/{cid}/reply",
        {"csrf_token": token_of(j, f"/conversations/{cid}"), "message": "  \n "},
    )
    assert r.status == 400 and b"The reply is empty" in r.body
    r = j.post_urlencoded(f"/conversations/{cid}/reply", {"message": "no token"})
    assert r.status == 403
    assert (
        stored_replies(room) == before and [row for row in reply_rows(room.data_dir) if row[1] == cid] == []
    )


def test_a_file_part_in_a_reply_form_is_refused_never_spooled(room, j):
    """A client that sends a file part with the reply (Werkzeug would spool 500 KB+ to a temp file).

    The whole form is refused, the reply in it too: Python's temporary files are
    unnamed (O_TMPFILE), so no watch of the folders could see one being made.
    """
    cid, _ = room.open_conversation("spool")
    marker = b"MARKER-spool-" + unknown_id().encode()
    token = token_of(j, f"/conversations/{cid}")
    for fields, files in (
        ([("csrf_token", token)], [("message", "reply.txt", marker * 20_000, "text/plain")]),
        ([("csrf_token", token), ("message", "hello")], [("extra", "x.bin", marker * 20_000, "text/plain")]),
    ):
        body, ctype = multipart(fields, files)
        with DiskWatch([room.data_dir, room.source.tmp_dir]) as watch:
            r = j.request("POST", f"/conversations/{cid}/reply", body=body, headers={"Content-Type": ctype})
        assert r.status == 400 and b"Something in what was sent was not right" in r.body
        assert [p for p in watch.created if not SQLITE_OWN.search(p.name)] == []
        assert [p for p, data in watch.contents.items() if marker in data] == []
    assert [row for row in reply_rows(room.data_dir) if row[1] == cid] == []
    # A multipart reply without a file part is taken, as a browser may send one.
    body, ctype = multipart([("csrf_token", token), ("message", "multipart, fields only")])
    r = j.request("POST", f"/conversations/{cid}/reply", body=body, headers={"Content-Type": ctype})
    assert r.status == 303


def test_an_envelope_written_offline_is_kept_as_it_came(room, j, newsroom_key):
    cid, source = room.open_conversation("offline reply")
    envelope = reply_envelope("written on the air-gapped machine", source.public_key, room.newsroom_key)
    r = upload(j, cid, envelope)
    assert r.status == 303 and r.header("Location") == f"/conversations/{cid}?sent=1"
    (row,) = [row for row in reply_rows(room.data_dir) if row[1] == cid]
    assert row[2:4] == (j.name, "offline")
    assert room.convs.reply_envelope(row[0]) == envelope
    assert opens(envelope, source.secret_key) == opens(envelope, newsroom_key)


def hostile(room, cid, source):
    """Each refusal: (the envelope, the page's status, words of its message)."""
    other = SecretKey.generate().public_key
    good = reply_envelope("fine", source.public_key, room.newsroom_key)
    big = reply_envelope("x" * (MAX_REPLY_ENVELOPE + 1), source.public_key, room.newsroom_key)
    return {
        "not an envelope": (b"Dear source, plain text is not an envelope.", 400, "not a reply envelope"),
        "cut short": (good[:-20], 400, "not a reply envelope"),
        "sealed to another source": (
            reply_envelope("wrong", other, room.newsroom_key),
            400,
            "not sealed to this conversation",
        ),
        "oversize, found while reading": (big[: MAX_REPLY_ENVELOPE + 4096], 413, "larger than the"),
        "oversize, said by its length": (big + bytes(64 * 1024), 413, "larger than the"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "not an envelope",
        "cut short",
        "sealed to another source",
        "oversize, found while reading",
        "oversize, said by its length",
    ],
)
def test_hostile_uploads_are_refused_and_change_nothing(room, j, case):
    cid, source = room.open_conversation("hostile")
    envelope, status, words = hostile(room, cid, source)[case]
    before = (stored_replies(room), reply_rows(room.data_dir))
    for query, json in (("", False), ("?sealed=browser", True)):
        r = upload(j, cid, envelope, query=query)
        assert r.status == status, (case, r.body[:300])
        assert words in r.body.decode()
        assert r.header("Content-Type").startswith("application/json") == json
    assert (stored_replies(room), reply_rows(room.data_dir)) == before
    assert list((room.data_dir / "store" / "pending").iterdir()) == []


def test_a_reply_to_a_conversation_that_does_not_exist_or_went_meanwhile(room, j):
    cid, source = room.open_conversation("about to go")
    token = token_of(j, f"/conversations/{cid}")
    envelope = reply_envelope("too late", source.public_key, room.newsroom_key)
    assert room.convs.delete([cid]) == 1  # deleted while the page was open
    before = (stored_replies(room), reply_rows(room.data_dir))
    for target in (cid, unknown_id()):
        r = upload(j, target, envelope, token=token)
        assert r.status == 404 and b"This conversation no longer exists. Nothing was kept." in r.body
        r = j.post_urlencoded(f"/conversations/{target}/reply", {"csrf_token": token, "message": "late"})
        assert r.status == 404 and b"This conversation no longer exists" in r.body
    assert (stored_replies(room), reply_rows(room.data_dir)) == before


def test_an_upload_without_its_token_or_without_a_file_is_refused(room, j):
    cid, source = room.open_conversation("token")
    envelope = reply_envelope("fine", source.public_key, room.newsroom_key)
    assert upload(j, cid, envelope, token="0" * 64).status == 403
    token = token_of(j, f"/conversations/{cid}")
    body, ctype = multipart([("csrf_token", token)], [("envelope", "", b"", "application/octet-stream")])
    r = j.request("POST", f"/conversations/{cid}/envelope", body=body, headers={"Content-Type": ctype})
    assert r.status == 400 and b"No file was chosen" in r.body
    body, ctype = multipart([("csrf_token", token)])
    r = j.request("POST", f"/conversations/{cid}/envelope", body=body, headers={"Content-Type": ctype})
    assert r.status == 400
    assert [row for row in reply_rows(room.data_dir) if row[1] == cid] == []


def test_download_a_whole_conversation(room, j, keydir, tmp_path):
    cid, _ = room.open_conversation("MARKER-first of the conversation")
    follow = room.convs.begin_follow_up(cid, "server", [room.newsroom_key], 1 << 20, 10)
    follow.add_message("MARKER-its follow-up")
    follow.commit()
    page = j.get(f"/conversations/{cid}").body.decode()
    assert 'id="download-conversation"' in page  # the page's own download button posts the same
    r = j.post_urlencoded("/download", {"csrf_token": token_of(j, "/"), "conversation": cid})
    assert r.status == 200 and r.header("Content-Type") == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(r.body)) as t:
        assert t.getnames()[0] == "manifest.json"
    (tmp_path / "b.tar").write_bytes(r.body)
    assert decrypt_with(keydir, tmp_path / "out", tmp_path / "b.tar").returncode == 0
    texts = [p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert any(b"MARKER-first of the conversation" in t for t in texts)
    assert any(b"MARKER-its follow-up" in t for t in texts)
    subs = {s.id: s for s in room.convs.store.list() if s.conversation_id == cid}
    assert len(subs) == 2 and all(j.name in s.downloads for s in subs.values())


def test_delete_a_whole_conversation_with_its_source_record(room, j):
    cid, source = room.open_conversation("to delete")
    rid = room.convs.add_reply(
        cid,
        io.BytesIO(reply_envelope("q", source.public_key, room.newsroom_key)),
        "ana",
        "offline",
        MAX_REPLY_ENVELOPE,
    )
    subs = [s.id for s in room.convs.store.list() if s.conversation_id == cid]
    r = j.post_urlencoded(
        "/delete", {"csrf_token": token_of(j, f"/conversations/{cid}"), "conversation": cid}
    )
    page = r.body.decode()
    assert r.status == 200 and "Delete for good" in page and "the source's record" in page
    assert room.convs.get(cid) is not None  # only a confirmation so far
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    fields = {"csrf_token": token, "confirm": "yes", "conversation": cid, "id": subs}
    r = j.post_urlencoded("/delete/confirmed", fields)
    assert r.status == 200 and b"Deleted 1 conversation too" in r.body
    assert room.convs.get(cid) is None and room.convs.find(source.derived.verifier_hash) is None
    assert not (room.data_dir / "store" / "replies" / rid).exists()
    assert all(not (room.data_dir / "store" / "submissions" / s).exists() for s in subs)
    assert [row for row in reply_rows(room.data_dir) if row[1] == cid] == []
    assert cid not in j.get("/").body.decode()


def test_a_conversation_kept_with_a_key_nothing_can_be_sealed_to_says_so(room, j):
    """A source key of small order, kept before the source app refused one at the first tip: the
    page says no reply can reach the source and offers no reply box; a reply posted anyway gets
    that page (400), not a 500, and nothing is kept."""
    cid, _ = room.open_conversation("a tip whose key is broken")
    con = sqlite3.connect(room.data_dir / "tipline.sqlite3")
    with con:
        con.execute("update conversations set source_public_key = ? where id = ?", ("00" * 32, cid))
    con.close()
    before = stored_replies(room)
    page = j.get(f"/conversations/{cid}")
    assert page.status == 200 and b"nothing can be sealed to" in page.body
    assert b'id="reply-form"' not in page.body
    r = j.post_urlencoded(
        f"/conversations/{cid}/reply",
        {"csrf_token": token_of(j, f"/conversations/{cid}"), "message": "Are you there?"},
    )
    assert r.status == 400 and b"nothing can be sealed to" in r.body
    assert stored_replies(room) == before
