"""Helpers for the conversation tests: a first tip, a login, and a real reply in the real store."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

from tests.web.server import Response, Server
from tipline.format import codename
from tipline.format.keys import PublicKey
from tipline.format.payload import Metadata
from tipline.format.stream import seal_bytes
from tipline.store.conversations import ConversationInfo, ConversationStore
from tipline.store.db import make_engine, make_sessions
from tipline.store.submissions import SubmissionStore

TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
CODENAME = re.compile(r'<p id="codename" class="codename" lang="en" dir="ltr">([^<]*)</p>')
REPLY_TEXT = re.compile(r'<p class="reply-text" dir="auto">(.*?)</p>', re.S)


def token(srv: Server, path: str = "/") -> str:
    return TOKEN.search(srv.get(path).body.decode()).group(1)


def first_tip(srv: Server, message: str) -> str:
    """A first tip with JavaScript off; returns the codename the server showed."""
    r = srv.post_form([("csrf_token", token(srv)), ("message", message)])
    assert r.status == 200, r.body[:300]
    return CODENAME.search(r.body.decode()).group(1)


def login(srv: Server, typed: str) -> Response:
    return srv.post_urlencoded(
        "/conversation", {"csrf_token": token(srv, "/conversation"), "codename": typed}
    )


def reply_texts(r: Response) -> list[str]:
    rendered = r.body.decode().split('<template id="reply-template">')[0]  # not the page script's blank
    return [html.unescape(t) for t in REPLY_TEXT.findall(rendered)]


def install_salt(data_dir: Path) -> bytes:
    return (data_dir / "source" / "install.salt").read_bytes()


def store(srv: Server) -> ConversationStore:
    sessions = make_sessions(make_engine(f"sqlite:///{srv.data_dir / 'tipline.sqlite3'}"))
    return ConversationStore(SubmissionStore(srv.data_dir / "store", sessions))


def conversation(srv: Server, typed: str) -> ConversationInfo:
    conv = store(srv).find(codename.derive(typed, install_salt(srv.data_dir)).verifier_hash)
    assert conv is not None
    return conv


def add_reply(srv: Server, keydir: Path, typed: str, text: str) -> str:
    """A reply as the newsroom sends it: sealed in Python to the source's key and the journalist's."""
    conv = conversation(srv, typed)
    journalist = PublicKey.from_text((keydir / "journalist.pub").read_text())
    env = seal_bytes(
        text.encode(),
        Metadata("message", "", "text/plain; charset=utf-8"),
        [conv.source_public_key, journalist],
    )
    return store(srv).add_reply(conv.id, io.BytesIO(env), "ana", "offline", 1 << 20)
