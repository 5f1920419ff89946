"""Helpers for the conversation status tests: rows read straight from the database, journalists of
their own, the list as a journalist sees it, the status and star forms, and the source's views."""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Callable

from sqlalchemy import create_engine, text

from tests.web.newsroom import Newsroom, login, token_of
from tests.web.server import Response, Server
from tipline.config import load_settings
from tipline.format import codename

HOUR = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:00Z$")
SECTION = re.compile(
    r'<section class="conversation"[^>]*data-conversation-id="([^"]+)"[^>]*'
    r'data-status="([a-z_]+)" data-starred="([01])">(.*?)</section>',
    re.S,
)


def db(room: Newsroom) -> str:
    return load_settings(room.data_dir).db_url


def query(room: Newsroom, sql: str, **params) -> list[tuple]:
    engine = create_engine(db(room))
    try:
        with engine.connect() as con:
            return [tuple(r) for r in con.execute(text(sql), params)]
    finally:
        engine.dispose()


def execute(room: Newsroom, sql: str, **params) -> None:
    engine = create_engine(db(room))
    try:
        with engine.begin() as con:
            con.execute(text(sql), params)
    finally:
        engine.dispose()


def status_row(room: Newsroom, cid: str) -> tuple | None:
    rows = query(
        room,
        "select status, starred, starred_by, changed_hour, changed_by from conversation_status "
        "where conversation_id = :c",
        c=cid,
    )
    assert len(rows) <= 1
    return (rows[0][0], bool(rows[0][1]), *rows[0][2:]) if rows else None


def seen_rows(room: Newsroom, cid: str) -> dict[str, bool]:
    """Who has seen it, and whether nothing happened since; every hour kept is a whole hour."""
    rows = query(
        room, "select journalist, hour, current from conversation_seen where conversation_id = :c", c=cid
    )
    assert all(HOUR.match(hour) for _, hour, _ in rows), rows
    return {who: bool(current) for who, _, current in rows}


def everything(room: Newsroom) -> list[tuple]:
    """Both tables whole: what a refused request must leave as it was."""
    return query(room, "select * from conversation_status order by 1") + query(
        room, "select * from conversation_seen order by 1, 2"
    )


def journalist(room: Newsroom) -> Server:
    """A journalist of their own, logged in, with a cookie jar of their own on the journalist app."""
    name = room.enrol("j" + secrets.token_hex(5))
    client = Server(room.data_dir, room.source.tmp_dir, room.work / "client.log", room.journalist.port)
    login(client, name, room.totp[name])
    client.name = name
    return client


def sections(j: Server, query_string: str = "") -> dict[str, tuple[str, bool, str]]:
    """The list as `j` sees it: conversation id -> (status, starred, the section's HTML), in page order."""
    r = j.get("/" + query_string)
    assert r.status == 200, r.body[:300]
    return {cid: (st, star == "1", body) for cid, st, star, body in SECTION.findall(r.body.decode())}


def post_status(j: Server, cid: str, value: str, token: str | None = None) -> Response:
    fields = {"status": value} | ({} if token == "" else {"csrf_token": token or token_of(j, "/")})
    return j.post_urlencoded(f"/conversations/{cid}/status", fields)


def post_star(j: Server, cid: str, value: str, token: str | None = None) -> Response:
    fields = {"starred": value} | ({} if token == "" else {"csrf_token": token or token_of(j, "/")})
    return j.post_urlencoded(f"/conversations/{cid}/star", fields)


def reply(j: Server, cid: str, message: str = "a question") -> None:
    """A reply typed with JavaScript off; the token comes from the list, which marks nothing seen."""
    r = j.post_urlencoded(f"/conversations/{cid}/reply", {"csrf_token": token_of(j, "/"), "message": message})
    assert r.status == 303, r.body[:300]


def follow_up(room: Newsroom, cid: str) -> None:
    intake = room.convs.begin_follow_up(cid, "server", [room.newsroom_key], 1 << 20, 10)
    intake.add_message("more from the source")
    intake.commit()


def opened(j: Server, cid: str) -> str:
    r = j.get(f"/conversations/{cid}")
    assert r.status == 200
    return r.body.decode()


def at_once(calls: list[Callable[[], Response]]) -> list[Response]:
    gate = threading.Barrier(len(calls))
    out: list[Response | BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        gate.wait()
        try:
            out[i] = calls[i]()
        except BaseException as e:  # the test looks at it
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out  # type: ignore[return-value]


def source_views(room: Newsroom, src: Server, words: str) -> list[tuple[int, bytes]]:
    """Everything the source app shows this source of their conversation: JavaScript off and on.

    Each time with the same CSRF cookie (so the same form token) and no session to begin with.
    """
    src.cookies = {k: v for k, v in src.cookies.items() if k == "tipline_csrf"}
    page = src.get("/conversation")
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.body.decode()).group(1)
    js_off = src.post_urlencoded("/conversation", {"csrf_token": token, "codename": words})
    again = src.get("/conversation")
    verifier = codename.derive(words, (room.data_dir / "source" / "install.salt").read_bytes()).verifier
    field = base64.urlsafe_b64encode(verifier).rstrip(b"=").decode()
    js_on = src.request(
        "POST",
        "/conversation",
        body=f"csrf_token={token}&verifier={field}".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    assert json.loads(js_on.body)["ok"] is True and len(json.loads(js_on.body)["replies"]) == 1
    views = [(r.status, r.body) for r in (page, js_off, again, js_on)]
    assert [s for s, _ in views] == [200, 200, 200, 200]
    return views
