"""A newsroom for the conversation tests: both apps on one data folder, journalists, real conversations.

Conversations are opened through the store itself (ConversationStore.begin_first) with a
source whose key pair comes from a real codename (tipline.format.codename.derive), since
the source's pages for it are built elsewhere; the journalist app sees them as it would
any other.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pyotp

from tests.conftest import PASSPHRASE as KEY_PASSPHRASE
from tests.store.conversation_helpers import Source, first_tip, open_store
from tests.web.logins import PASSPHRASE, enrol
from tests.web.server import Server, free_port, make_server, multipart
from tipline.config import load_settings
from tipline.format.keys import PublicKey, SecretKey
from tipline.format.stream import decrypt_bytes
from tipline.store.conversations import ConversationStore

TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@dataclass
class Newsroom:
    source: Server
    journalist: Server
    keydir: Path
    work: Path
    convs: ConversationStore
    totp: dict[str, pyotp.TOTP] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.source.data_dir

    @property
    def newsroom_key(self) -> PublicKey:
        return PublicKey.from_text((self.keydir / "journalist.pub").read_text())

    def enrol(self, name: str) -> str:
        self.totp[name] = enrol(self.data_dir, name, self.work)[1]
        return name

    def open_conversation(self, text: str) -> tuple[str, Source]:
        """A first tip that opens a conversation, as the source's pages will: (its id, the source)."""
        source = Source.new()
        return first_tip(self.convs, self.newsroom_key, source, text), source

    def stop(self) -> None:
        self.source.stop()
        self.journalist.stop()


def start_newsroom(base: Path, keydir: Path, settings_toml: str = "") -> Newsroom:
    """The source app and the journalist app (real gunicorn each) on one data folder."""
    source = make_server(base, keydir / "journalist.pub")
    if settings_toml:
        source.data_dir.joinpath("tipline.toml").write_text(settings_toml)
    source.start()
    journalist = Server(source.data_dir, source.tmp_dir, base / "journalist.log", free_port())
    journalist.start("--app", "journalist")
    settings = load_settings(source.data_dir)
    return Newsroom(source, journalist, keydir, base, open_store(settings.db_url, settings.store_dir))


def newsroom_secret(keydir: Path) -> SecretKey:
    return SecretKey.from_text((keydir / "journalist.key").read_text(), KEY_PASSPHRASE.encode())


def opens(envelope: bytes, secret: SecretKey) -> str:
    """The text of a reply envelope, opened with one secret key (raises if it does not open)."""
    meta, content = decrypt_bytes(envelope, [secret])
    assert meta.kind == "message"
    return content.decode("utf-8")


def login(j: Server, name: str, totp: pyotp.TOTP) -> None:
    j.cookies.clear()
    token = TOKEN.search(j.get("/login").body.decode()).group(1)
    r = j.post_urlencoded(
        "/login", {"csrf_token": token, "name": name, "passphrase": PASSPHRASE, "code": totp.now()}
    )
    assert r.status == 303 and r.header("Location") == "/", r.body


def token_of(j: Server, path: str) -> str:
    return TOKEN.search(j.get(path).body.decode()).group(1)


def upload(j: Server, cid: str, envelope: bytes, token: str | None = None, query: str = ""):
    """The upload form's POST: the CSRF token, then the envelope file."""
    token = token if token is not None else token_of(j, f"/conversations/{cid}")
    body, ctype = multipart(
        [("csrf_token", token)], [("envelope", "reply.envelope", envelope, "application/octet-stream")]
    )
    return j.request(
        "POST", f"/conversations/{cid}/envelope{query}", body=body, headers={"Content-Type": ctype}
    )


def reply_rows(data_dir: Path) -> list[tuple]:
    con = sqlite3.connect(data_dir / "tipline.sqlite3")
    try:
        return con.execute(
            "select id, conversation_id, journalist, sealed_by, deleted_by_source from replies order by id"
        ).fetchall()
    finally:
        con.close()


def unknown_id() -> str:
    return secrets.token_urlsafe(16)
