"""A real installation's data folder with conversations in it, for the offline tests.

The keys are added with the real `tipline keys add`; the store is the real
SQLite store at DATA/store, so `tipline export` finds everything as it would
on a server. Sources have codename-derived keys; replies are sealed in Python
and kept with ConversationStore.add_reply, as the journalist app does.
"""

from __future__ import annotations

import io
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import PASSPHRASE, run_tipline
from tests.store.conversation_helpers import Source, add_reply, reply_envelope
from tipline.format.keys import PublicKey, SecretKey
from tipline.format.payload import Metadata
from tipline.store.conversations import ConversationStore
from tipline.store.db import make_engine, make_sessions
from tipline.store.submissions import SubmissionStore


@dataclass
class Newsroom:
    data: Path
    journalist: PublicKey  # the keygen-made key of the keydir fixture
    convs: ConversationStore

    @classmethod
    def make(cls, data: Path, keydir: Path) -> Newsroom:
        run_tipline("keys", "add", "--data-dir", str(data), str(keydir / "journalist.pub"))
        engine = make_engine(f"sqlite:///{data / 'tipline.sqlite3'}")
        store = SubmissionStore(data / "store", make_sessions(engine))
        pub = PublicKey.from_text((keydir / "journalist.pub").read_text())
        return cls(data, pub, ConversationStore(store))

    def tip(self, text: str, files: dict[str, bytes] | None = None, source: Source | None = None,
            follow_up: str | None = None) -> tuple[str, str | None]:  # fmt: skip
        """A tip: the first of a conversation (source given), a follow-up (its id given), or plain.

        Returns (submission id, conversation id).
        """
        if follow_up is not None:
            intake = self.convs.begin_follow_up(follow_up, "server", [self.journalist], 1 << 22, 10)
        elif source is not None:
            d = source.derived
            intake = self.convs.begin_first(
                "server", [self.journalist], 1 << 22, 10, d.public_key, d.verifier_hash
            )
        else:
            intake = self.convs.store.begin("server", [self.journalist], 1 << 22, 10)
        intake.add_message(text)
        for name, content in (files or {}).items():
            item = intake.server_item(Metadata("file", name, "application/octet-stream"))
            item.write(content)
            item.complete = True
        sid = intake.commit()
        return sid, intake.conversation_id if source is not None else follow_up

    def reply(self, cid: str, source: Source, text: str, journalist: str = "ana") -> str:
        return add_reply(
            self.convs, cid, reply_envelope(text, source.public_key, self.journalist), journalist
        )

    def add_envelope(self, cid: str, envelope: bytes, journalist: str = "ana") -> str:
        # 64 KiB of text sealed to 32 recipients makes an envelope of 70,467 bytes.
        return self.convs.add_reply(cid, io.BytesIO(envelope), journalist, "offline", 72 * 1024)

    def set_hour(self, table: str, row_id: str, hour: str) -> None:
        """Move an item to another hour, so a test can say in which order the thread must read."""
        column = {"submissions": "received_hour", "replies": "hour"}[table]
        con = sqlite3.connect(self.data / "tipline.sqlite3")
        with con:
            con.execute(f"update {table} set {column} = ? where id = ?", (hour, row_id))
        con.close()

    def export(self, out: Path) -> Path:
        r = run_tipline("export", "--data-dir", str(self.data), "--out", str(out))
        assert "submission(s)" in r.stdout
        return out


def journalist_secret(keydir: Path) -> SecretKey:
    return SecretKey.from_text((keydir / "journalist.key").read_text(), PASSPHRASE.encode())
