"""Codename logins on the server: the derivation cap, and opening replies in memory.

No Flask here. Derivation costs a millisecond and 1 MiB (docs/conversations.md
"Parameters"); a small per-worker cap keeps a flood of logins from taking the
threads the form needs: a login beyond it is refused at once, never queued.
The secrets live in local variables of one call and are never logged, stored
or returned beyond the opened reply texts.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tipline.format import codename
from tipline.format.errors import BadCodename, BadVerifier, TiplineError
from tipline.format.keys import SecretKey
from tipline.format.stream import decrypt_bytes
from tipline.store.conversations import ConversationInfo, ConversationStore

# Derived in place of a malformed codename, so that every refusal costs one derivation.
DUMMY_CODENAME = " ".join(codename.words()[:7])
COULD_NOT_OPEN = "This reply could not be opened. It may be damaged."


class Busy(Exception):
    """Too many logins at once in this worker: refuse this one now."""


@dataclass(frozen=True)
class OpenedReply:
    id: str
    hour: str
    text: str


class LoginGate:
    """At most `limit` derivations at once in this worker; the rest raise Busy at once."""

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            raise Busy
        try:
            yield
        finally:
            self._slots.release()


def key_from_field(value: str) -> bytes | None:
    """32 bytes a browser sent (a verifier or a public key: base64url, no padding), or None."""
    if not isinstance(value, str) or len(value) != 43:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=")
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def find_by_verifier(store: ConversationStore, verifier: bytes) -> ConversationInfo | None:
    try:
        return store.find(codename.verifier_hash(verifier))
    except BadVerifier:
        return None


def login_with_codename(
    store: ConversationStore, text: str, install_salt: bytes
) -> tuple[ConversationInfo, list[OpenedReply]] | None:
    """Derive (always, even for a malformed codename), find, and open the replies; None if it fits nothing."""
    try:
        derived = codename.derive(text, install_salt)
        well_formed = True
    except BadCodename:
        derived = codename.derive(DUMMY_CODENAME, install_salt)
        well_formed = False
    conv = store.find(derived.verifier_hash)
    if conv is None or not well_formed:
        return None
    identity = SecretKey(derived.secret_key)
    del derived
    return conv, open_replies(store, conv.id, identity)


def open_replies(store: ConversationStore, conversation_id: str, identity: SecretKey) -> list[OpenedReply]:
    """Every reply the source has not deleted, opened in memory, oldest hour first."""
    out = []
    for entry in store.thread(conversation_id, include_deleted=False):
        if entry.kind != "reply":
            continue
        try:
            _meta, content = decrypt_bytes(store.reply_envelope(entry.id), [identity])
            text = content.decode("utf-8", "replace")
        except (TiplineError, OSError):
            text = COULD_NOT_OPEN
        out.append(OpenedReply(entry.id, entry.hour, text))
    return out


def reply_envelopes(store: ConversationStore, conversation_id: str) -> list[dict[str, str]]:
    """The replies as the browser opens them itself: id, hour, and the envelope in base64."""
    out = []
    for entry in store.thread(conversation_id, include_deleted=False):
        if entry.kind != "reply":
            continue
        try:
            data = store.reply_envelope(entry.id)
        except OSError:
            continue  # deleted since the listing
        out.append({"id": entry.id, "hour": entry.hour, "envelope": base64.b64encode(data).decode("ascii")})
    return out
