"""Envelopes arriving in parts, waiting for the commit that makes them a tip (docs/uploads.md).

An upload is `pending/uploads/ID` (the ciphertext so far), `ID.json` (its
declared length and the hour it expires) and, once committed, `ID.done`.
Each request holds the upload's lock (a flock on its `ID.json`) while it
reads or writes it; creation holds `.lock` while it counts the quota, so
parallel requests in any number of workers cannot pass it together. No Flask
here, and no HTTP: tipline/web/tus.py speaks the protocol.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from tipline.format.durable import fsync_dir

from .filetimes import open_quietly, to_the_hour, walk
from .submissions import SHARED_DIR_MODE, SHARED_FILE_MODE, UPLOADS, current_hour
from .upload_state import (
    HOUR,
    ID,
    CutShort,
    QuotaReached,
    TooLong,
    UnknownUpload,
    UploadBusy,
    UploadExpired,
    UploadState,
    WrongOffset,
)

if TYPE_CHECKING:
    from tipline.config import Settings

MAX_PART = 16 * 1024 * 1024  # one PATCH at most: a part is synced before it is acknowledged
PIECE = 64 * 1024  # read from the request, and written, this much at a time
LOCK = ".lock"


class PendingUploads:
    """The uploads folder. One per process; every operation takes the file locks it needs."""

    def __init__(self, folder: Path, hours: int, max_total: int, max_count: int, max_length: int) -> None:
        self.folder = folder
        self.hours = hours
        self.max_total = max_total
        self.max_count = max_count
        self.max_length = max_length

    def make_folder(self) -> None:
        """Made at the first creation, in the pending folder the store made (never that folder too)."""
        self.folder.mkdir(mode=SHARED_DIR_MODE, exist_ok=True)

    # -- paths and locks ---------------------------------------------------------------

    def data_path(self, upload_id: str) -> Path:
        if not ID.fullmatch(upload_id):
            raise UnknownUpload(upload_id)
        return self.folder / upload_id

    def _sidecar(self, upload_id: str) -> Path:
        return self.data_path(upload_id).with_name(upload_id + ".json")

    def _tombstone(self, upload_id: str) -> Path:
        return self.data_path(upload_id).with_name(upload_id + ".done")

    @contextlib.contextmanager
    def _locked(self, upload_id: str, wait_s: float = 0) -> Iterator[UploadState]:
        """Hold the upload's lock and yield its state; UploadBusy if another holds it past `wait_s`."""
        path = self._sidecar(upload_id)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fd = open_quietly(path, os.O_RDONLY | os.O_NOFOLLOW)
            except (FileNotFoundError, NotADirectoryError):
                raise UnknownUpload(upload_id) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise UploadBusy(upload_id) from None
                time.sleep(0.05)
        try:
            try:  # deleted (or expired and removed) while this request waited for it
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                raise UnknownUpload(upload_id)
            yield self._read_state(upload_id, os.pread(fd, 4096, 0))
        finally:
            os.close(fd)  # releases the lock

    def _read_state(self, upload_id: str, raw: bytes) -> UploadState:
        try:
            doc = json.loads(raw)
            length, expires = doc["length"], doc["expires"]
            if doc["v"] != 1 or not isinstance(length, int) or not HOUR.fullmatch(expires):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise UnknownUpload(upload_id) from None
        if self._tombstone(upload_id).exists():
            return UploadState(upload_id, length, length, expires, committed=True)
        try:
            offset = os.stat(self.data_path(upload_id)).st_size
        except FileNotFoundError:
            raise UnknownUpload(upload_id) from None
        return UploadState(upload_id, offset, length, expires, committed=False)

    @contextlib.contextmanager
    def _quota_lock(self) -> Iterator[None]:
        fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, SHARED_FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _hide(self) -> None:
        """Every time in the folder (and the pending folder above it) back to the hour."""
        to_the_hour([self.folder.parent, *walk(self.folder)])

    # -- the protocol's operations -------------------------------------------------------

    def create(self, length: int) -> UploadState:
        """A new empty upload of `length` bytes; QuotaReached when it would pass either quota."""
        if not 0 < length <= self.max_length:
            raise TooLong
        self.make_folder()
        with self._quota_lock():
            self._remove_expired()
            waiting = [s for s in self._states() if not s.committed and not s.expired]
            if len(waiting) >= self.max_count or sum(s.length for s in waiting) + length > self.max_total:
                raise QuotaReached
            upload_id = secrets.token_urlsafe(16)
            # The hour it was made, plus the limit, plus one: it always lives at least the limit.
            expires = time.strftime(
                "%Y-%m-%dT%H:00Z", time.gmtime(current_hour()[1] + (self.hours + 1) * 3600)
            )
            doc = json.dumps({"v": 1, "length": length, "expires": expires}).encode()
            tmp = self.folder / f"{upload_id}.json.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, SHARED_FILE_MODE)
            try:
                os.write(fd, doc)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.close(
                os.open(self.data_path(upload_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, SHARED_FILE_MODE)
            )
            os.rename(tmp, self._sidecar(upload_id))  # last: an upload exists once its sidecar does
            fsync_dir(self.folder)
            self._hide()
        return UploadState(upload_id, 0, length, expires, committed=False)

    def state(self, upload_id: str) -> UploadState:
        """What an upload holds, synced first (HEAD); UnknownUpload once committed, UploadExpired."""
        with self._locked(upload_id) as st:
            if st.committed:
                raise UnknownUpload(upload_id)
            if st.expired:
                raise UploadExpired(upload_id)
            fd = open_quietly(self.data_path(upload_id))
            try:
                os.fsync(fd)  # a worker killed mid-part may have left bytes not yet synced
            finally:
                os.close(fd)
        self._hide()
        return st

    def append(self, upload_id: str, offset: int, stream: BinaryIO, count: int) -> UploadState:
        """Write `count` bytes read from `stream` at `offset`, synced; on any failure none of them stay."""
        if count > MAX_PART:
            raise TooLong(upload_id)
        with self._locked(upload_id) as st:
            if st.committed:
                raise UnknownUpload(upload_id)
            if st.expired:
                raise UploadExpired(upload_id)
            if offset != st.offset:
                raise WrongOffset(upload_id, st.offset)
            if offset + count > st.length:
                raise TooLong(upload_id)
            fd = os.open(self.data_path(upload_id), os.O_WRONLY | os.O_NOFOLLOW)
            try:
                os.lseek(fd, offset, os.SEEK_SET)
                _copy(stream, fd, count, upload_id)
                os.fsync(fd)
            except BaseException:
                with contextlib.suppress(OSError):  # cutting back needs no space
                    os.ftruncate(fd, offset)
                    os.fsync(fd)
                raise
            finally:
                os.close(fd)
        self._hide()
        return UploadState(upload_id, offset + count, st.length, st.expires, committed=False)

    def delete(self, upload_id: str) -> None:
        """The source cancelled: the upload goes (UnknownUpload if committed: its marker stays)."""
        with self._locked(upload_id) as st:
            if st.committed:
                raise UnknownUpload(upload_id)
            self._remove(upload_id)
        fsync_dir(self.folder)
        self._hide()

    # -- the commit (tipline/store/upload_commit.py) --------------------------------------

    @contextlib.contextmanager
    def claim(self, upload_ids: Sequence[str], wait_s: float = 30) -> Iterator[dict[str, UploadState]]:
        """Hold every named upload's lock (in one order, so two commits cannot deadlock)."""
        try:
            with contextlib.ExitStack() as stack:
                states = {i: stack.enter_context(self._locked(i, wait_s)) for i in sorted(set(upload_ids))}
                yield states
        finally:
            self._hide()

    def mark_committed(self, upload_ids: Iterable[str]) -> None:
        """Under claim(): leave each upload's marker (until it would expire), and drop its data."""
        for upload_id in upload_ids:
            with contextlib.suppress(FileExistsError):
                os.close(
                    os.open(
                        self._tombstone(upload_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, SHARED_FILE_MODE
                    )
                )
        fsync_dir(self.folder)
        for upload_id in upload_ids:
            self.data_path(upload_id).unlink(missing_ok=True)
        fsync_dir(self.folder)

    def discard(self, upload_ids: Iterable[str]) -> None:
        """Under claim(): remove these uploads outright (their envelope failed its checks)."""
        for upload_id in upload_ids:
            self._remove(upload_id)
        fsync_dir(self.folder)

    # -- clean-up ------------------------------------------------------------------------------

    def _remove(self, upload_id: str) -> None:
        for path in (self.data_path(upload_id), self._tombstone(upload_id), self._sidecar(upload_id)):
            path.unlink(missing_ok=True)  # the sidecar last: it is the lock

    def _states(self) -> list[UploadState]:
        out = []
        for name in os.listdir(self.folder):
            upload_id = name.removesuffix(".json")
            if name.endswith(".json") and ID.fullmatch(upload_id):
                try:
                    out.append(self._read_state(upload_id, _read(self._sidecar(upload_id))))
                except (UnknownUpload, FileNotFoundError):
                    continue
        return out

    def _remove_expired(self) -> int:
        """Under the quota lock: expired uploads, and what a crash left half made. Busy ones wait."""
        removed = 0
        names = set(os.listdir(self.folder))
        for name in names:
            upload_id = name.removesuffix(".json")
            if not (name.endswith(".json") and ID.fullmatch(upload_id)):
                stem = name.split(".", 1)[0]
                if name != LOCK and f"{stem}.json" not in names:  # no sidecar: never made whole
                    (self.folder / name).unlink(missing_ok=True)
                continue
            try:
                with self._locked(upload_id) as st:
                    if st.expired:
                        self._remove(upload_id)
                        removed += 1
            except UnknownUpload:  # a sidecar without data, or unreadable: never made whole
                with contextlib.suppress(UploadBusy, UnknownUpload, FileNotFoundError):
                    self._remove(upload_id)
            except UploadBusy:
                continue
        return removed

    def remove_expired(self) -> int:
        """Delete every expired upload (tipline purge); how many went. Nothing to do without the folder."""
        if not self.folder.is_dir():
            return 0
        with self._quota_lock():
            removed = self._remove_expired()
        fsync_dir(self.folder)
        self._hide()
        return removed


def open_uploads(settings: Settings) -> PendingUploads:
    """The uploads folder with the installation's limits (the folder is made only by the source app)."""
    return PendingUploads(
        settings.store_dir / "pending" / UPLOADS,
        settings.pending_upload_hours,
        settings.max_pending_bytes,
        settings.max_pending_uploads,
        settings.max_sealed_bytes,
    )


def _read(path: Path) -> bytes:
    fd = open_quietly(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        return os.pread(fd, 4096, 0)
    finally:
        os.close(fd)


def _copy(stream: BinaryIO, fd: int, count: int, upload_id: str) -> None:
    """Copy exactly `count` bytes, a piece at a time (never a whole part in memory)."""
    left = count
    while left:
        try:
            piece = stream.read(min(PIECE, left))
        except Exception as e:  # the client went away, stalled or crawled (tipline/web/slowbody.py)
            raise CutShort(upload_id) from e
        if not piece:
            raise CutShort(upload_id)
        view = memoryview(piece)
        while view:
            view = view[os.write(fd, view) :]
        left -= len(piece)
