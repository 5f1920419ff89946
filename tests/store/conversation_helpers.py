"""Shared by the conversation store tests: a real store on a database URL, real codenames, real envelopes."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from tipline.format import codename
from tipline.format.keys import PublicKey, SecretKey
from tipline.format.payload import Metadata
from tipline.format.stream import seal_bytes
from tipline.store.conversations import ConversationStore
from tipline.store.db import make_engine, make_sessions
from tipline.store.submissions import SubmissionStore

INSTALL_SALT = bytes(range(16))
REPLY_LIMIT = 64 * 1024


@dataclass
class Source:
    """A source as the store sees one: a codename, derived as the browser would."""

    code: str
    derived: codename.Derived

    @classmethod
    def new(cls) -> Source:
        code = codename.new_codename()
        return cls(code, codename.derive(code, INSTALL_SALT))

    @property
    def public_key(self) -> PublicKey:
        return PublicKey(self.derived.public_key)

    @property
    def secret_key(self) -> SecretKey:
        return SecretKey(self.derived.secret_key)


def open_store(url: str, root: Path) -> ConversationStore:
    return ConversationStore(SubmissionStore(root, make_sessions(make_engine(url))))


def first_tip(convs: ConversationStore, journalist: PublicKey, source: Source, text: str = "hello") -> str:
    """A first submission that opens a conversation; returns the conversation id."""
    intake = convs.begin_first(
        "server", [journalist], 1 << 20, 10, source.derived.public_key, source.derived.verifier_hash
    )
    intake.add_message(text)
    intake.commit()
    assert intake.conversation_id is not None
    return intake.conversation_id


def reply_envelope(text: str, *to: PublicKey) -> bytes:
    return seal_bytes(text.encode(), Metadata("message", "", "text/plain; charset=utf-8"), list(to))


def add_reply(convs: ConversationStore, cid: str, envelope: bytes, journalist: str = "ana") -> str:
    return convs.add_reply(cid, io.BytesIO(envelope), journalist, "offline", REPLY_LIMIT)


def race_first_tips(
    convs: ConversationStore, journalist: PublicKey, source: Source, n: int = 6
) -> list[object]:
    """n first submissions with one codename, released at once: what each got (an id or the error)."""
    import threading

    gate = threading.Barrier(n)
    results: list[object] = [None] * n

    def one(i: int) -> None:
        intake = convs.begin_first(
            "server", [journalist], 1 << 20, 10, source.derived.public_key, source.derived.verifier_hash
        )
        intake.add_message(f"twin {i}")
        gate.wait()
        try:
            intake.commit()
            results[i] = intake.conversation_id
        except Exception as e:  # the test looks at which
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def race_replies(
    convs: ConversationStore, cid: str, envelope: bytes, threads: int = 8, each: int = 3
) -> list[str]:
    """Replies added from many threads at once; returns the ids they were given."""
    import threading

    gate = threading.Barrier(threads)
    ids: list[str] = []
    errors: list[BaseException] = []

    def lane() -> None:
        gate.wait()
        try:
            for _ in range(each):
                ids.append(add_reply(convs, cid, envelope))
        except BaseException as e:
            errors.append(e)

    pool = [threading.Thread(target=lane) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(120)
    assert errors == []
    return ids
