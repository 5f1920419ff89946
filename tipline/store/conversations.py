"""Conversations and replies in the store (docs/conversations.md "What the server stores").

A conversation holds a random id, the source's public key, the hash of the
login verifier and hours: nothing that leads back to the codename. Its tips
are ordinary submissions with its id; its replies are envelopes, written as
tips are (pending folder, fsync, rename, fsync, then the row) under the
store's write lock. Listings are ordered by hour, then by random id: never
by arrival. No Flask here, and no HTTP.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tipline.format.durable import fsync_dir
from tipline.format.errors import MalformedHeader, TiplineError, UnsealableKey
from tipline.format.header import MAGIC, read_header
from tipline.format.keys import PublicKey, check_sealable
from tipline.format.stream import check_length
from tipline.textmark import J_, N_

from .models import Conversation, Reply, Submission
from .status import after_follow_up, after_reply
from .submissions import (
    DISK_FULL,
    MAX_HEADER,
    SHARED_DIR_MODE,
    Intake,
    IntakeError,
    SealedBy,
    StorageFull,
    SubmissionStore,
    _new_file,
    current_hour,
)

KDF_VERSION = 1
ReplySealedBy = Literal["browser", "server", "offline"]
CHUNK = 1 << 16


class NoSuchConversation(IntakeError):
    def __init__(self) -> None:
        super().__init__(N_("This conversation no longer exists. Nothing was kept."))


class ConversationExists(IntakeError):
    """Only someone holding the verifier (so the codename) can meet this: it reveals nothing to others."""

    def __init__(self) -> None:
        super().__init__(
            N_(
                "A conversation with this codename already exists. Nothing was kept: "
                "use the codename to continue that conversation."
            )
        )


class BadSourceKey(IntakeError):
    def __init__(self) -> None:
        super().__init__(N_("The source's key or login check is not 32 bytes. Nothing was kept."))


class UnsealableSourceKey(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            N_(
                "The key this page made for your conversation cannot be used to send you replies. "
                "Nothing was kept. Reload the page and send again."
            )
        )


class NotAnEnvelope(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            J_(
                "This file is not a reply envelope, or it is damaged or incomplete. Nothing was kept: "
                "write the reply again with the reply box or with tipline-offline reply."
            )
        )


class NotForThisSource(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            J_(
                "This reply is not sealed to this conversation's source, who could not read it. Nothing "
                "was kept: write it from this conversation's folder, or with the reply box on its page."
            )
        )


class ReplyTooLarge(IntakeError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            J_("This reply is larger than the %(limit)s bytes a reply may be. Nothing was kept: shorten it."),
            limit=f"{limit:,}",
        )


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    source_public_key: PublicKey
    kdf_version: int
    created_hour: str
    last_activity_hour: str


@dataclass(frozen=True)
class Entry:
    """One item of a thread: a submission from the source, or a reply from the newsroom."""

    kind: Literal["submission", "reply"]
    id: str
    hour: str
    sealed_by: str
    size: int
    journalist: str | None = None  # replies only
    deleted_by_source: bool = False  # replies only


def _info(c: Conversation) -> ConversationInfo:
    return ConversationInfo(
        c.id,
        PublicKey(bytes.fromhex(c.source_public_key)),
        c.kdf_version,
        c.created_hour,
        c.last_activity_hour,
    )


def _checked(value: bytes) -> str:
    if not isinstance(value, bytes) or len(value) != 32:
        raise BadSourceKey
    return value.hex()


class ConversationStore:
    """Conversations on top of a SubmissionStore: its folders, its lock, its time rounding."""

    def __init__(self, store: SubmissionStore) -> None:
        self.store = store

    # -- the source's side -------------------------------------------------------------

    def begin_first(
        self,
        sealed_by: SealedBy,
        recipients: Sequence[PublicKey],
        max_bytes: int,
        max_items: int,
        source_public_key: bytes,
        verifier_hash: bytes,
    ) -> Intake:
        """A first submission: its commit() opens the conversation in the same transaction.

        Two first submissions with one verifier hash cannot both open one: the
        unique constraint refuses the second (ConversationExists), and its
        envelopes go. A source key of small order is refused at once
        (UnsealableSourceKey): no reply could ever be sealed to it.
        """
        key, vhash = _checked(source_public_key), _checked(verifier_hash)
        try:
            check_sealable(source_public_key)
        except UnsealableKey:
            raise UnsealableSourceKey from None

        def link(s: Session, row: Submission) -> None:
            conv = Conversation(
                id=secrets.token_urlsafe(16),
                source_public_key=key,
                verifier_hash=vhash,
                kdf_version=KDF_VERSION,
                created_hour=row.received_hour,
                last_activity_hour=row.received_hour,
            )
            s.add(conv)
            row.conversation_id = conv.id
            try:
                s.flush()
            except IntegrityError:
                raise ConversationExists from None

        return self.store.begin(sealed_by, recipients, max_bytes, max_items, link)

    def begin_follow_up(
        self,
        conversation_id: str,
        sealed_by: SealedBy,
        recipients: Sequence[PublicKey],
        max_bytes: int,
        max_items: int,
    ) -> Intake:
        """A follow-up: a submission in an existing conversation (NoSuchConversation at commit otherwise)."""

        def link(s: Session, row: Submission) -> None:
            conv = s.get(Conversation, conversation_id, with_for_update=True)
            if conv is None:
                raise NoSuchConversation
            row.conversation_id = conv.id
            conv.last_activity_hour = max(conv.last_activity_hour, row.received_hour)
            try:
                s.flush()
            except IntegrityError:  # deleted by another process since it was read
                raise NoSuchConversation from None
            after_follow_up(s, conv.id, row.received_hour)  # the newsroom's status: look again

        return self.store.begin(sealed_by, recipients, max_bytes, max_items, link)

    def find(self, verifier_hash: bytes) -> ConversationInfo | None:
        """The conversation this hash logs in to, or None: a wrong hash and a malformed one alike."""
        if not isinstance(verifier_hash, bytes) or len(verifier_hash) != 32:
            return None
        with self.store.sessions() as s:
            conv = s.scalars(
                select(Conversation).where(Conversation.verifier_hash == verifier_hash.hex())
            ).first()
            return None if conv is None else _info(conv)

    def delete_reply(self, conversation_id: str, reply_id: str) -> bool:
        """The source deletes a reply they have read: the file goes, the row says so (for the newsroom).

        The row is marked first, then the file removed: a crash in between
        leaves a file that recover() removes. No hour is kept of the deletion.
        """
        with self.store.write_lock, self.store.sessions.begin() as s:
            reply = s.get(Reply, reply_id)
            if reply is None or reply.conversation_id != conversation_id or reply.deleted_by_source:
                return False
            reply.deleted_by_source = True
        shutil.rmtree(self.store.replies / reply_id, ignore_errors=True)
        fsync_dir(self.store.replies)
        self.store.hide_times()
        return True

    # -- both sides ----------------------------------------------------------------------

    def get(self, conversation_id: str) -> ConversationInfo | None:
        with self.store.sessions() as s:
            conv = s.get(Conversation, conversation_id)
            return None if conv is None else _info(conv)

    def list(self) -> list[ConversationInfo]:
        """Every conversation, newest activity first (then by random id)."""
        with self.store.sessions() as s:
            rows = s.scalars(
                select(Conversation).order_by(Conversation.last_activity_hour.desc(), Conversation.id)
            )
            return [_info(c) for c in rows]

    def thread(self, conversation_id: str, include_deleted: bool = True) -> list[Entry]:
        """Its tips and replies by hour, then random id; the source's view leaves out deleted replies."""
        with self.store.sessions() as s:
            entries = [
                Entry("submission", r.id, r.received_hour, r.sealed_by, r.total_size)
                for r in s.scalars(select(Submission).where(Submission.conversation_id == conversation_id))
            ]
            entries += [
                Entry("reply", r.id, r.hour, r.sealed_by, r.size, r.journalist, r.deleted_by_source)
                for r in s.scalars(select(Reply).where(Reply.conversation_id == conversation_id))
                if include_deleted or not r.deleted_by_source
            ]
        return sorted(entries, key=lambda e: (e.hour, e.id))

    def reply_envelope(self, reply_id: str) -> bytes:
        """A reply's envelope, read without moving its access time."""
        fd = os.open(
            self.store.replies / reply_id / "reply.envelope", os.O_RDONLY | getattr(os, "O_NOATIME", 0)
        )
        with os.fdopen(fd, "rb") as f:
            return f.read()

    # -- the newsroom's side -------------------------------------------------------------

    def add_reply(
        self,
        conversation_id: str,
        envelope: BinaryIO,
        journalist: str,
        sealed_by: ReplySealedBy,
        max_bytes: int,
    ) -> str:
        """Keep a reply envelope once its shape and its stanza for the source are checked. Returns its id.

        The checks need no key (docs/conversations.md "Replies"): a well-formed
        v1 header, one stanza with the source key's id, the length rule. Any
        failure keeps nothing.
        """
        conv = self.get(conversation_id)
        if conv is None:
            raise NoSuchConversation
        rid = secrets.token_urlsafe(16)
        folder = self.store.pending / rid
        folder.mkdir(mode=SHARED_DIR_MODE)
        try:
            size = self._write(folder / "reply.envelope", envelope, conv.source_public_key, max_bytes)
            return self._record(rid, folder, conv.id, journalist, sealed_by, size)
        except OSError as e:
            shutil.rmtree(folder, ignore_errors=True)
            self.store.hide_times()
            if e.errno in DISK_FULL:
                raise StorageFull("The server's disk is full.") from None
            raise
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            self.store.hide_times()
            raise

    def _write(self, path, src: BinaryIO, source_key: PublicKey, max_bytes: int) -> int:
        head = bytearray()
        header_length: int | None = None
        size = 0
        with _new_file(path) as f:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ReplyTooLarge(max_bytes)
                if header_length is None:
                    head += chunk[: MAX_HEADER + 1]
                    header_length = _check_header(head, source_key, final=False)
                f.write(chunk)
            if header_length is None:
                header_length = _check_header(head, source_key, final=True)
            try:
                check_length(header_length or 0, size)
            except TiplineError:
                raise NotAnEnvelope from None
            f.flush()
            os.fsync(f.fileno())
        return size

    def _record(
        self, rid: str, folder, conversation_id: str, journalist: str, sealed_by: str, size: int
    ) -> str:
        hour, hour_ts = current_hour()
        os.utime(folder / "reply.envelope", (hour_ts, hour_ts))
        fsync_dir(folder)
        target = self.store.replies / rid
        os.rename(folder, target)
        fsync_dir(self.store.replies)
        fsync_dir(self.store.pending)
        try:
            with self.store.write_lock, self.store.sessions.begin() as s:
                conv = s.get(Conversation, conversation_id, with_for_update=True)
                if conv is None:  # deleted while the reply was being written
                    raise NoSuchConversation
                s.add(
                    Reply(
                        id=rid,
                        conversation_id=conversation_id,
                        hour=hour,
                        journalist=journalist,
                        sealed_by=sealed_by,
                        size=size,
                        deleted_by_source=False,
                    )
                )
                conv.last_activity_hour = max(conv.last_activity_hour, hour)
                s.flush()
                after_reply(s, conversation_id, journalist, hour)  # the newsroom's status: replied
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        self.store.hide_times(target)
        return rid

    def delete(self, conversation_ids: Iterable[str]) -> int:
        """Delete conversations with all their submissions and replies. Returns how many went."""
        return len(self.store.remove((), conversation_ids)[1])


def _check_header(head: bytearray, source_key: PublicKey, final: bool) -> int | None:
    """The header's length once it is whole and has a stanza for the source; None while bytes are missing."""
    if len(head) < len(MAGIC) and not final:
        return None
    try:
        header, raw = read_header(io.BytesIO(bytes(head)))
    except MalformedHeader:
        if final or len(head) > MAX_HEADER:
            raise NotAnEnvelope from None
        return None
    except TiplineError:
        raise NotAnEnvelope from None
    if not any(secrets.compare_digest(s.key_id, source_key.key_id) for s in header.stanzas):
        raise NotForThisSource
    return len(raw)
