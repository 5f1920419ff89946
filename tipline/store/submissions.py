"""Receive submissions durably, and read them back for export.

A submission is written into `store/pending/<id>/`, every envelope fsynced,
then the folder is renamed to `store/submissions/<id>/` and the row
committed. Only then is the source told it arrived. Anything pending, or on
disk without a row, was never acknowledged: `recover()` removes it at start.

After every change the times of what it touched, and of the rest of the data
folder (read on each tip: keys, secrets, the database), go to the hour.
"""

from __future__ import annotations

import calendar
import contextlib
import errno
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from tipline.format.durable import fsync_dir
from tipline.format.keys import PublicKey
from tipline.format.payload import Metadata
from tipline.format.stream import EnvelopeWriter
from tipline.textmark import N_

from .envelopes import (  # IntakeError and UploadTooLarge are imported from here by the web layer
    MAX_HEADER,
    EnvelopeRejected,
    IntakeError,
    UploadTooLarge,
    check_head,
    check_whole,
    spend,
)
from .filetimes import open_quietly, to_the_hour, walk
from .keyring import compact
from .models import Conversation, Download, Reply, Submission

log = logging.getLogger(__name__)

SealedBy = Literal["browser", "server"]
# Out of space, over quota, or over a file-size limit: the disk cannot take this tip now.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
__all__ = ["MAX_HEADER", "EnvelopeRejected", "IntakeError", "UploadTooLarge"]


class StorageFull(Exception):
    """The disk is full: nothing was kept, try later."""


def current_hour() -> tuple[str, int]:
    """The present hour in UTC as text and as a timestamp: the only time kept."""
    t = time.gmtime()
    hour = time.strftime("%Y-%m-%dT%H:00Z", t)
    return hour, calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, 0, 0))


# The store is shared by the two apps' users through their group (docs/install.md): the
# source app writes envelopes, the journalist app reads and deletes them. The process
# umask decides what is left of these modes: 0o077 for `tipline serve` and the CLI (one
# user: private), 0o007 in deploy/gunicorn.conf.py (the group, never others).
SHARED_DIR_MODE = 0o770
SHARED_FILE_MODE = 0o660
# pending/uploads/: the uploads in parts (tipline/store/uploads.py).
UPLOADS = "uploads"


def _new_file(path: Path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, SHARED_FILE_MODE)
    return os.fdopen(fd, "wb")


class Item:
    """One envelope being written to a pending folder. File-like for Werkzeug."""

    def __init__(self, path: Path, budget: list[int]) -> None:
        self.path = path
        self._f = _new_file(path)
        self._budget = budget  # shared with the intake: bytes still allowed
        self.size = 0

    def _spend(self, n: int) -> None:
        spend(self._budget, n)

    complete = False

    def seek(self, *_args: object) -> int:
        # Werkzeug rewinds a part once its closing boundary has arrived: the
        # one sign that the part is whole, not cut off by a dropped connection.
        self.complete = True
        return 0

    def finish(self) -> None:
        raise NotImplementedError

    def _sync_close(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()

    def discard(self) -> None:
        if not self._f.closed:
            # Closing flushes the buffer, which fails again on a full disk:
            # the file is being thrown away, so that error does not matter.
            with contextlib.suppress(OSError):
                self._f.close()
        self.path.unlink(missing_ok=True)


class ServerSealedItem(Item):
    """Plaintext arrives, ciphertext is written: sealed as it streams in."""

    def __init__(
        self, path: Path, budget: list[int], recipients: Sequence[PublicKey], meta: Metadata
    ) -> None:
        super().__init__(path, budget)
        self.meta = meta
        self._writer = EnvelopeWriter(self._f, recipients)

    @property
    def empty(self) -> bool:
        return self._writer.length == 0

    def write(self, data: bytes) -> int:
        self._spend(len(data))
        return self._writer.write(data)

    def finish(self) -> None:
        self.size = self._writer.close(self.meta)
        self._sync_close()


class BrowserSealedItem(Item):
    """An envelope the browser made: kept as it is, after checking its shape."""

    def __init__(self, path: Path, budget: list[int], recipients: Sequence[PublicKey]) -> None:
        super().__init__(path, budget)
        self._expected = sorted(k.key_id for k in recipients)
        self._head = bytearray()
        self._header_length: int | None = None

    def write(self, data: bytes) -> int:
        self._spend(len(data))
        if self._header_length is None:
            self._head += data[: MAX_HEADER + 1]
            self._header_length = check_head(bytes(self._head), self._expected, final=False)
        self._f.write(data)
        self.size += len(data)
        return len(data)

    def finish(self) -> None:
        if self._header_length is None:
            self._header_length = check_head(bytes(self._head), self._expected, final=True)
        check_whole(self._header_length or 0, self.size)
        self._sync_close()


class LinkedItem:
    """An envelope that arrived in parts (tipline/store/uploads.py): linked in, then checked as
    BrowserSealedItem checks one that streams in. Never copied: the upload's file becomes the item."""

    complete = True

    def __init__(self, source: Path, path: Path, budget: list[int], recipients: Sequence[PublicKey]) -> None:
        os.link(source, path, follow_symlinks=False)
        self.path = path
        try:
            with os.fdopen(open_quietly(path), "rb") as f:
                self.size = os.fstat(f.fileno()).st_size
                spend(budget, self.size)
                head = f.read(MAX_HEADER + 1)
            header_length = check_head(head, [k.key_id for k in recipients], final=True)
            check_whole(header_length or 0, self.size)
        except BaseException:
            self.discard()
            raise

    def finish(self) -> None:
        fd = open_quietly(self.path)
        try:
            os.fsync(fd)  # each part was synced as it came; this costs nothing more
        finally:
            os.close(fd)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)  # the link only: the upload keeps its own name


@dataclass
class SubmissionInfo:
    id: str
    received_hour: str
    sealed_by: str
    item_count: int
    total_size: int
    sealed_to: list[str]
    downloads: dict[str, str] = field(default_factory=dict)  # journalist -> hour
    conversation_id: str | None = None


# Called inside the transaction that records a submission, to tie it to its conversation.
Link = Callable[[Session, Submission], None]


class SubmissionStore:
    """The ciphertext files and their rows. One per process; thread-safe per intake."""

    def __init__(self, root: Path, sessions: sessionmaker[Session]) -> None:
        self.root = root
        self.pending = root / "pending"
        self.done = root / "submissions"
        self.replies = root / "replies"  # one folder per reply, written as tips are (conversations.py)
        self.sessions = sessions
        # One writer at a time per process: SQLite allows one anyway, and its
        # busy handler sleeps up to 100 ms per retry, so threads queueing here
        # instead wait far less (bench/load.py: p99 of 1 KiB tips, 144 -> 67 ms).
        self.write_lock = threading.Lock()
        for d in (root, self.pending, self.done, self.replies):
            d.mkdir(mode=SHARED_DIR_MODE, parents=True, exist_ok=True)

    def hide_times(self, *submissions: Path) -> None:
        """Round to the hour the data folder around the store, and these submission folders.

        The other submissions are not touched: each was rounded when it came,
        and walking thousands of them on every tip would cost more than it
        protects. The data folder is this store's parent (Settings.store_dir).
        Of its folders only the shared ones (the store, the keys) are walked:
        each app's private folder (source/, journalist/) is never opened by the
        other app, and the journalist app's database engine rounds its own.
        """
        data = self.root.parent
        try:
            shared = [data, *(p for p in data.iterdir() if not p.is_dir() or p.is_symlink())]
            shared += walk(data / "keys") if (data / "keys").is_dir() else []
            to_the_hour(shared + walk(self.root, prune=frozenset({self.done, self.replies})))
            for folder in submissions:
                to_the_hour(walk(folder))
        except OSError as e:  # what was stored stays stored; its times stay finer than the hour
            log.warning("could not round file times to the hour (%s)", errno.errorcode.get(e.errno, "?"))

    def recover(self) -> int:
        """Remove what was never acknowledged, and round every time. Call before any worker starts."""
        removed = 0
        for d in self.pending.iterdir():
            # Unfinished uploads in parts are not acknowledged either, but they are the source's
            # work, resumable after a restart: they stay until they expire (docs/uploads.md).
            if d.name == UPLOADS:
                continue
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
        with self.sessions() as s:
            known = set(s.scalars(select(Submission.id)))
            # A reply the source deleted keeps its row, never its file.
            replies = set(s.scalars(select(Reply.id).where(Reply.deleted_by_source.is_(False))))
        for folder, keep in ((self.done, known), (self.replies, replies)):
            for d in folder.iterdir():
                if d.name not in keep:
                    shutil.rmtree(d, ignore_errors=True)
                    removed += 1
        self.hide_times(self.done, self.replies)  # all of them, once: older versions kept exact times
        return removed

    def begin(
        self,
        sealed_by: SealedBy,
        recipients: Sequence[PublicKey],
        max_bytes: int,
        max_items: int,
        link: Link | None = None,
    ) -> Intake:
        """A new submission. `link` (from conversations.py) ties it to a conversation as it is recorded."""
        return Intake(self, sealed_by, recipients, max_bytes, max_items, link)

    def list(self, conversation_id: str | None = None) -> list[SubmissionInfo]:
        """Every submission, newest hour first; or, given an id, only that conversation's."""
        subs = select(Submission)
        marks = select(Download)
        if conversation_id is not None:
            subs = subs.where(Submission.conversation_id == conversation_id)
            marks = marks.join(Submission, Download.submission_id == Submission.id).where(
                Submission.conversation_id == conversation_id
            )
        with self.sessions() as s:
            downloads: dict[str, dict[str, str]] = {}
            for d in s.scalars(marks):
                downloads.setdefault(d.submission_id, {})[d.journalist] = d.hour
            rows = s.scalars(subs.order_by(Submission.received_hour.desc(), Submission.id))
            return [
                SubmissionInfo(
                    r.id,
                    r.received_hour,
                    r.sealed_by,
                    r.item_count,
                    r.total_size,
                    r.sealed_to.split(),
                    downloads.get(r.id, {}),
                    r.conversation_id,
                )
                for r in rows
            ]

    def get(self, ids: Iterable[str]) -> list[SubmissionInfo]:
        wanted = set(ids)
        return [s for s in self.list() if s.id in wanted]

    def mark_downloaded(self, ids: Iterable[str], journalist: str) -> None:
        hour = current_hour()[0]
        with self.write_lock, self.sessions.begin() as s:
            for sid in set(ids):
                sub = s.get(Submission, sid)
                if sub is None:
                    continue
                if sub.first_download_hour is None:
                    sub.first_download_hour = hour
                if s.get(Download, (sid, journalist)) is None:
                    s.add(Download(submission_id=sid, journalist=journalist, hour=hour))

    def delete(self, ids: Iterable[str]) -> tuple[int, set[str]]:
        """Delete submissions; a conversation left without any goes too, with its replies.

        Returns how many submissions went, and the ids of the conversations that went with them.
        """
        return self.remove(ids, ())

    def remove(self, submission_ids: Iterable[str], conversation_ids: Iterable[str]) -> tuple[int, set[str]]:
        """Delete these submissions and conversations (each with all it holds): rows, then files.

        A conversation whose last submission goes is removed as well: its
        replies answer nothing kept, and retention is there to forget the
        source. A crash between rows and files leaves files that recover()
        removes. Returns how many submissions went, and which conversations
        (so that the activity log can forget their ids too).
        """
        sub_ids, conv_ids = set(submission_ids), set(conversation_ids)
        with self.write_lock, self.sessions.begin() as s:
            convs = set(s.scalars(select(Conversation.id).where(Conversation.id.in_(conv_ids))))
            existing = set(s.scalars(select(Submission.id).where(Submission.id.in_(sub_ids))))
            existing |= set(s.scalars(select(Submission.id).where(Submission.conversation_id.in_(convs))))
            touched = set(
                s.scalars(select(Submission.conversation_id).where(Submission.id.in_(existing)).distinct())
            )
            s.execute(delete(Download).where(Download.submission_id.in_(existing)))
            s.execute(delete(Submission).where(Submission.id.in_(existing)))
            left = set(
                s.scalars(select(Submission.conversation_id).where(Submission.conversation_id.in_(touched)))
            )
            convs |= {c for c in touched if c is not None and c not in left}
            replies = list(s.scalars(select(Reply.id).where(Reply.conversation_id.in_(convs))))
            s.execute(delete(Reply).where(Reply.conversation_id.in_(convs)))
            s.execute(delete(Conversation).where(Conversation.id.in_(convs)))
            for cid in touched - convs:
                _refresh_activity(s, cid)
        for folder, names in ((self.done, existing), (self.replies, replies)):
            for name in names:
                shutil.rmtree(folder / name, ignore_errors=True)
            if names:
                fsync_dir(folder)
        if existing or convs:
            self.hide_times()
        return len(existing), convs

    def expired(self, older_than_days: int | None, after_download_days: int | None) -> list[str]:
        """Ids due for deletion: received too long ago, or downloaded too long ago."""
        now = time.time()

        def cutoff(days: int) -> str:
            return time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(now - days * 86400))

        with self.sessions() as s:
            ids: set[str] = set()
            if older_than_days is not None:
                ids |= set(
                    s.scalars(select(Submission.id).where(Submission.received_hour < cutoff(older_than_days)))
                )
            if after_download_days:
                ids |= set(
                    s.scalars(
                        select(Submission.id).where(
                            Submission.first_download_hour.is_not(None),
                            Submission.first_download_hour < cutoff(after_download_days),
                        )
                    )
                )
            return sorted(ids)


def _refresh_activity(s: Session, conversation_id: str | None) -> None:
    """After a deletion, a conversation's last activity is the newest hour it still holds."""
    conv = s.get(Conversation, conversation_id) if conversation_id else None
    if conv is None:
        return
    hours = list(s.scalars(select(Submission.received_hour).where(Submission.conversation_id == conv.id)))
    hours += s.scalars(select(Reply.hour).where(Reply.conversation_id == conv.id))
    conv.last_activity_hour = max(hours, default=conv.created_hour)


class Intake:
    """One submission being received. commit() makes it durable; abort() leaves no trace."""

    def __init__(
        self,
        store: SubmissionStore,
        sealed_by: SealedBy,
        recipients: Sequence[PublicKey],
        max_bytes: int,
        max_items: int,
        link: Link | None = None,
    ) -> None:
        if not recipients:
            raise IntakeError(N_("This tip line has no encryption key yet, so it cannot accept tips."))
        self.store = store
        self.sealed_by = sealed_by
        self.recipients = list(recipients)
        self.id = secrets.token_urlsafe(16)
        self.folder = store.pending / self.id
        self.folder.mkdir(mode=SHARED_DIR_MODE)
        self.items: list[Item | LinkedItem] = []
        self._counter = 0
        self._budget = [max_bytes]
        self._max_items = max_items
        self._closed = False
        self._link = link
        self.conversation_id: str | None = None  # set by commit() when linked

    def _path(self) -> Path:
        if len(self.items) >= self._max_items:
            raise UploadTooLarge(
                N_(
                    "A tip can have at most %(count)s files. Nothing was kept: send fewer files, "
                    "or split them over several tips."
                ),
                count=self._max_items - 1,
            )
        self._counter += 1
        return self.folder / f"{self._counter}.part"

    def server_item(self, meta: Metadata) -> ServerSealedItem:
        item = ServerSealedItem(self._path(), self._budget, self.recipients, meta)
        self.items.append(item)
        return item

    def browser_item(self) -> BrowserSealedItem:
        item = BrowserSealedItem(self._path(), self._budget, self.recipients)
        self.items.append(item)
        return item

    def linked_item(self, upload: Path) -> LinkedItem:
        """Link a finished upload in as the next item; EnvelopeRejected if it fails the checks."""
        item = LinkedItem(upload, self._path(), self._budget, self.recipients)
        self.items.append(item)
        return item

    def add_message(self, text: str) -> None:
        """Seal the message text; it becomes the submission's first item."""
        item = self.server_item(Metadata("message", "", "text/plain; charset=utf-8"))
        item.write(text.encode("utf-8"))
        item.complete = True
        self.items.insert(0, self.items.pop())

    def drop(self, item: Item | LinkedItem) -> None:
        """Forget an item (a file field left empty); later items keep their order."""
        item.discard()
        self.items.remove(item)

    def commit(self) -> str:
        """Make the submission durable, then record it. Returns its id."""
        try:
            if not self.items:
                raise IntakeError(N_("The tip is empty: write a message or attach a file."))
            if not all(item.complete for item in self.items):
                raise IntakeError(N_("The upload was cut off before it ended. Nothing was kept: send again."))
            hour, hour_ts = current_hour()
            for i, item in enumerate(self.items):
                item.finish()
                final = self.folder / f"{i}.envelope"
                if item.path != final:
                    os.rename(item.path, final)
                    item.path = final
                # Only the hour is kept, in the files' times as in the row.
                os.utime(final, (hour_ts, hour_ts))
            fsync_dir(self.folder)
            target = self.store.done / self.id
            os.rename(self.folder, target)
            fsync_dir(self.store.done)
            fsync_dir(self.store.pending)
            try:
                with self.store.write_lock, self.store.sessions.begin() as s:
                    row = Submission(
                        id=self.id,
                        received_hour=hour,
                        sealed_by=self.sealed_by,
                        item_count=len(self.items),
                        total_size=sum(i.size for i in self.items),
                        sealed_to=" ".join(compact(k.fingerprint) for k in self.recipients),
                    )
                    s.add(row)
                    if self._link is not None:
                        self._link(s, row)
                        self.conversation_id = row.conversation_id
            except Exception:
                shutil.rmtree(target, ignore_errors=True)
                raise
            self._closed = True
            self.store.hide_times(target)
            return self.id
        except OSError as e:
            self.abort()
            if e.errno in DISK_FULL:
                raise StorageFull("The server's disk is full.") from None
            raise
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self._closed:
            return
        self._closed = True
        for item in self.items:
            item.discard()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.store.hide_times()  # the pending folder's mtime moved with this attempt
