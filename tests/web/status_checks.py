"""Conversation status over real HTTP, the same checks on SQLite and on PostgreSQL.

Each check takes a running newsroom (tests/web/newsroom.py: both apps on one data folder) and
reads the status tables straight from its database (tests/web/status_http.py), so what the
pages say is held against what was stored.
"""

from __future__ import annotations

import re

from tests.web.conversations import first_tip
from tests.web.newsroom import Newsroom, token_of, unknown_id
from tests.web.server import Server
from tests.web.status_http import (
    HOUR,
    at_once,
    everything,
    execute,
    follow_up,
    journalist,
    opened,
    post_star,
    post_status,
    query,
    reply,
    sections,
    seen_rows,
    source_views,
    status_row,
)
from tipline.format import codename


def check_automatic_moves(room: Newsroom) -> None:
    a, b = journalist(room), journalist(room)
    cid, _ = room.open_conversation("moves")
    assert status_row(room, cid) is None  # no row: new, no star, seen by nobody
    st, star, html = sections(a)[cid]
    assert (st, star) == ("new", False)
    assert "Nobody has opened it yet." in html and "You have not opened it yet." not in html

    page = opened(a, cid)  # opening: seen by a, and new -> read
    assert 'data-status="read"' in page and f"Changed by {a.name}" in page
    (status, starred, _, hour, by) = status_row(room, cid)
    assert (status, starred, by) == ("read", False, a.name) and HOUR.match(hour)
    assert seen_rows(room, cid) == {a.name: True}
    html = sections(b)[cid][2]
    assert (
        re.search(rf"Seen by {a.name} \(\d{{4}}-[-\dT:]+Z\)\.", html)
        and "You have not opened it yet." in html
    )
    assert "New activity" not in sections(a)[cid][2] and "not opened it" not in sections(a)[cid][2]

    reply(a, cid)  # a reply: read -> replied
    assert status_row(room, cid)[0::4] == ("replied", a.name)
    opened(b, cid)
    assert status_row(room, cid)[0] == "replied"  # opening moves only new
    assert seen_rows(room, cid) == {a.name: True, b.name: True}

    follow_up(room, cid)  # the source wrote again: replied -> new, and nobody has seen it since
    assert status_row(room, cid)[0::4] == ("new", None)
    assert seen_rows(room, cid) == {a.name: False, b.name: False}
    html = sections(a)[cid][2]
    assert "New activity since you last looked." in html
    assert re.search(rf"{a.name} \(\d{{4}}-[-\dT:]+Z, before the latest activity\)", html)
    assert "Back to new when the source wrote again (" in html
    opened(a, cid)
    assert status_row(room, cid)[0::4] == ("read", a.name)
    assert seen_rows(room, cid) == {a.name: True, b.name: False}

    reply(b, cid)  # b's reply is news to a, not to b
    assert status_row(room, cid)[0::4] == ("replied", b.name)
    assert seen_rows(room, cid) == {a.name: False, b.name: False}
    opened(a, cid)
    opened(b, cid)

    for kept in ("in_progress",):  # someone is on it: a follow-up and a reply leave it so
        assert post_status(b, cid, kept).status == 303
        follow_up(room, cid)
        reply(a, cid)
        assert status_row(room, cid)[0::4] == (kept, b.name)
    assert post_status(b, cid, "done").status == 303
    reply(a, cid)  # a reply leaves "done" (only new and read become replied)
    assert status_row(room, cid)[0] == "done"
    follow_up(room, cid)  # done -> new: the source wrote after it was closed
    assert status_row(room, cid)[0::4] == ("new", None)

    # "new" set by hand survives the page it comes back to; a colleague opening it reads it.
    opened(a, cid)
    assert post_status(a, cid, "new").status == 303
    assert 'data-status="new"' in opened(a, cid)
    assert status_row(room, cid)[0::4] == ("new", a.name)
    opened(b, cid)
    assert status_row(room, cid)[0::4] == ("read", b.name)


def check_forms(room: Newsroom) -> None:
    """Set status and star from the page; refusals change nothing and say so plainly."""
    a = journalist(room)
    cid, _ = room.open_conversation("forms")
    page_token = token_of(a, f"/conversations/{cid}")
    r = post_status(a, cid, "in_progress", page_token)
    assert r.status == 303 and r.header("Location") == f"/conversations/{cid}?saved=1"
    page = a.get(r.header("Location")).body.decode()
    assert 'id="status-saved"' in page and '<option value="in_progress" selected>In progress</option>' in page
    assert 'data-status="in_progress"' in page and f"Changed by {a.name}" in page
    assert 'name="starred" value="1"' in page and "Star this conversation" in page

    r = post_star(a, cid, "1", page_token)
    assert r.status == 303 and r.header("Location") == f"/conversations/{cid}?saved=1"
    page = a.get(r.header("Location")).body.decode()
    assert 'data-starred="1"' in page and f"Starred by {a.name}." in page and "Remove the star" in page
    assert sections(a)[cid][:2] == ("in_progress", True)
    assert status_row(room, cid)[:3] == ("in_progress", True, a.name)
    assert post_star(a, cid, "0").status == 303
    assert status_row(room, cid)[:3] == ("in_progress", False, None)
    assert post_star(a, cid, "1").status == 303

    before = everything(room)
    for r in (
        post_status(a, cid, "done", token=""),  # no token
        post_status(a, cid, "done", token="0" * 64),  # a wrong one
        post_star(a, cid, "0", token=""),
    ):
        assert r.status == 403 and b"Please reload the page" in r.body
    r = a.request(
        "POST",
        f"/conversations/{cid}/status",
        body=f"csrf_token={token_of(a, '/')}&status=done".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"},
    )
    assert r.status == 403
    other = journalist(room)  # a token is worth nothing with another's cookie
    assert post_status(other, cid, "done", token_of(a, "/")).status == 403
    for value in ("bogus", "", "DONE", "in progress", "new\n", "x" * 5000):
        r = post_status(a, cid, value)
        assert r.status == 400 and b"That is not a status a conversation can have" in r.body, value
        assert f'href="/conversations/{cid}"'.encode() in r.body
    for value in ("", "2", "yes", "true"):
        r = post_star(a, cid, value)
        assert r.status == 400 and b"A star can only be added or removed" in r.body, value
    for gone in (unknown_id(), "%00", "x" * 200, "%C3%A9t%C3%A9", cid + "x"):
        for r in (post_status(a, gone, "done"), post_star(a, gone, "1")):
            assert r.status == 404 and b"This conversation no longer exists. Nothing was changed." in r.body
        assert a.get(f"/conversations/{gone}").status == 404
    assert a.request("GET", f"/conversations/{cid}/status").status == 405
    assert everything(room) == before
    assert status_row(room, unknown_id()) is None


def check_filters_and_order(room: Newsroom) -> None:
    a = journalist(room)
    ids = {name: room.open_conversation(name)[0] for name in ("f-new", "f-work", "f-work-star", "f-done")}
    assert post_status(a, ids["f-work"], "in_progress").status == 303
    assert post_status(a, ids["f-work-star"], "in_progress").status == 303
    assert post_star(a, ids["f-work-star"], "1").status == 303
    assert post_status(a, ids["f-done"], "done").status == 303
    assert post_star(a, ids["f-done"], "1").status == 303
    lone_tip = room.convs.store.begin("server", [room.newsroom_key], 1 << 20, 10)
    lone_tip.add_message("a tip from before conversations")
    lone = lone_tip.commit()
    # Hours, so the order is the activity's and not the rows': newest first, whatever the status.
    for i, name in enumerate(("f-done", "f-work-star", "f-new", "f-work")):
        execute(
            room,
            "update conversations set last_activity_hour = :h where id = :c",
            h=f"2020-01-0{i + 1}T0{i}:00Z",
            c=ids[name],
        )
    rows = query(room, "select id, last_activity_hour from conversations")
    expected = [cid for cid, _ in sorted(sorted(rows), key=lambda r: r[1], reverse=True)]
    mine = [cid for cid in expected if cid in ids.values()]
    assert mine == [ids[n] for n in ("f-work", "f-new", "f-work-star", "f-done")]

    page = a.get("/").body.decode()
    assert list(sections(a)) == expected
    assert (
        f'data-submission-id="{lone}"' in page and 'id="filter-form"' in page and "filter-result" not in page
    )

    def shown(q: str) -> list[str]:
        return [cid for cid in sections(a, q) if cid in ids.values()]

    assert shown("?status=in_progress") == [ids["f-work"], ids["f-work-star"]]
    assert shown("?status=in_progress&starred=1") == [ids["f-work-star"]]
    assert shown("?starred=1") == [ids["f-work-star"], ids["f-done"]]
    assert shown("?status=new") == [ids["f-new"]]
    assert shown("?status=done&starred=1") == [ids["f-done"]]
    assert shown("?status=") == mine and shown("?starred=0") == mine  # the form's "every status"
    assert all(st == "in_progress" for st, _, _ in sections(a, "?status=in_progress").values())
    page = a.get("/?status=in_progress&starred=1").body.decode()
    assert f'data-submission-id="{lone}"' not in page  # no status: a filter leaves it out
    assert (
        '<option value="in_progress" selected>' in page
        and 'id="filter-starred" name="starred" value="1" checked' in page
    )
    assert re.search(r'id="filter-result" role="status">\d+ of \d+ conversations match', page)
    assert 'id="filter-clear"' in page
    for bad in ("?status=bogus", "?status=In%20progress", "?status=read%00"):
        r = a.get("/" + bad)
        assert r.status == 400 and b"That is not a status a conversation can have" in r.body, bad
    follow_up(room, ids["f-done"])  # activity moves it to the top, and back to new
    assert shown("") == [ids[n] for n in ("f-done", "f-work", "f-new", "f-work-star")]
    assert sections(a)[ids["f-done"]][0] == "new"
    room.convs.store.delete([lone])


def check_delete(room: Newsroom) -> None:
    a, b = journalist(room), journalist(room)
    cid, _ = room.open_conversation("to delete")
    keep, _ = room.open_conversation("to keep")
    for j in (a, b):
        opened(j, cid)
        opened(j, keep)
    assert post_status(a, cid, "done").status == 303 and post_star(a, cid, "1").status == 303
    assert post_star(a, keep, "1").status == 303
    subs = [s.id for s in room.convs.store.list() if s.conversation_id == cid]
    r = a.post_urlencoded("/delete", {"csrf_token": token_of(a, "/"), "conversation": cid})
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', r.body.decode()).group(1)
    r = a.post_urlencoded(
        "/delete/confirmed", {"csrf_token": token, "confirm": "yes", "conversation": cid, "id": subs}
    )
    assert r.status == 200 and b"Deleted 1 conversation too" in r.body
    assert status_row(room, cid) is None and seen_rows(room, cid) == {}
    assert status_row(room, keep)[:2] == ("read", True) and set(seen_rows(room, keep)) == {a.name, b.name}


def check_two_at_once(room: Newsroom, rounds: int = 6) -> None:
    """Two journalists set a status at the same moment: both answered, one row, one of their values."""
    a, b = journalist(room), journalist(room)
    ta, tb = token_of(a, "/"), token_of(b, "/")
    for i in range(rounds):
        cid, _ = room.open_conversation(f"race {i}")
        if i % 2:  # a row there already, or none yet (both insert)
            assert post_star(a, cid, "1", ta).status == 303
        results = at_once(
            [lambda c=cid: post_status(a, c, "in_progress", ta), lambda c=cid: post_status(b, c, "done", tb)]
        )
        assert [getattr(r, "status", r) for r in results] == [303, 303]
        rows = query(
            room, "select status, changed_by from conversation_status where conversation_id = :c", c=cid
        )
        assert rows in ([("in_progress", a.name)], [("done", b.name)]), rows
        opened(b, cid)
        results = at_once([lambda c=cid: post_star(a, c, "1", ta), lambda c=cid: post_star(b, c, "1", tb)])
        assert [getattr(r, "status", r) for r in results] == [303, 303]
        (row,) = query(room, "select starred from conversation_status where conversation_id = :c", c=cid)
        assert bool(row[0]) is True
        assert query(room, "select count(*) from conversation_seen where conversation_id = :c", c=cid) == [
            (1,)
        ]
    assert "unexpected" not in (room.work / "journalist.log").read_text(errors="replace")


def check_source_sees_nothing(room: Newsroom) -> None:
    """The source's pages and JSON are the same bytes whatever the newsroom's status, star and seen."""
    a, b = journalist(room), journalist(room)
    words = first_tip(room.source, "what the source sent")
    conv = room.convs.find(
        codename.derive(words, (room.data_dir / "source" / "install.salt").read_bytes()).verifier_hash
    )
    assert conv is not None
    reply(a, conv.id, "a reply the source reads")
    src = Server(room.data_dir, room.source.tmp_dir, room.work / "client.log", room.source.port)
    before = source_views(room, src, words)
    for j, value in ((a, "in_progress"), (b, "done")):
        opened(j, conv.id)
        assert post_status(j, conv.id, value).status == 303
        assert post_star(j, conv.id, "1").status == 303
        assert source_views(room, src, words) == before
    assert status_row(room, conv.id)[:2] == ("done", True) and len(seen_rows(room, conv.id)) == 2
    assert post_star(a, conv.id, "0").status == 303 and post_status(a, conv.id, "new").status == 303
    assert source_views(room, src, words) == before
    for _, body in before:
        for word in (b"In progress", b"in_progress", b"Starred", a.name.encode(), b.name.encode()):
            assert word not in body
    assert (
        room.source.request("POST", f"/conversations/{conv.id}/status").status == 404
    )  # no such route there
