"""The journalist app's conversation pages on PostgreSQL: the same requests, a private server."""

from __future__ import annotations

import re

from sqlalchemy import text

from tests.postgres import new_database, pg_url  # noqa: F401 (a fixture)
from tests.store.conversation_helpers import reply_envelope
from tests.web.newsroom import login, newsroom_secret, opens, start_newsroom, token_of, upload
from tipline.store.db import make_engine


def test_conversations_in_the_journalist_app_on_postgres(pg_url, tmp_path, keydir):  # noqa: F811
    url = new_database(pg_url, "journalist_conversations")
    room = start_newsroom(tmp_path, keydir, f'database_url = "{url}"\n')
    try:
        assert not (room.data_dir / "tipline.sqlite3").exists()  # really on PostgreSQL
        j = room.journalist
        name = room.enrol("pgreplies")
        login(j, name, room.totp[name])
        older, _ = room.open_conversation("older")
        cid, source = room.open_conversation("on postgres")
        r = j.post_urlencoded(
            f"/conversations/{cid}/reply",
            {"csrf_token": token_of(j, f"/conversations/{cid}"), "message": "typed, JavaScript off"},
        )
        assert r.status == 303
        assert (
            upload(j, cid, reply_envelope("written offline", source.public_key, room.newsroom_key)).status
            == 303
        )
        r = upload(j, cid, reply_envelope("to someone else", room.newsroom_key))
        assert r.status == 400 and b"not sealed to this conversation" in r.body

        replies = [e for e in room.convs.thread(cid) if e.kind == "reply"]
        assert sorted((e.journalist, e.sealed_by) for e in replies) == [(name, "offline"), (name, "server")]
        secret = newsroom_secret(keydir)
        texts = sorted(opens(room.convs.reply_envelope(e.id), source.secret_key) for e in replies)
        assert texts == ["typed, JavaScript off", "written offline"]
        assert sorted(opens(room.convs.reply_envelope(e.id), secret) for e in replies) == texts

        with make_engine(url).begin() as con:  # hours, so the order is the activity's, not the rows'
            con.execute(
                text("update conversations set last_activity_hour = '2020-01-01T00:00Z' where id = :c"),
                {"c": older},
            )
        page = j.get("/").body.decode()
        assert re.findall(r'data-conversation-id="([^"]+)"', page) == [cid, older]
        assert all(f'data-reply-id="{e.id}"' in page for e in replies)

        r = j.post_urlencoded("/delete", {"csrf_token": token_of(j, "/"), "conversation": cid})
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', r.body.decode()).group(1)
        subs = re.findall(r'name="id" value="([^"]+)"', r.body.decode())
        r = j.post_urlencoded(
            "/delete/confirmed", {"csrf_token": token, "confirm": "yes", "conversation": cid, "id": subs}
        )
        assert r.status == 200 and b"Deleted 1 conversation too" in r.body
        assert room.convs.get(cid) is None and room.convs.find(source.derived.verifier_hash) is None
        assert list((room.data_dir / "store" / "replies").iterdir()) == []
        assert room.convs.get(older) is not None
    finally:
        room.stop()
