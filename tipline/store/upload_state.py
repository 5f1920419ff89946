"""What an upload in parts is, and each way a request about one fails (tipline/store/uploads.py)."""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass

from .submissions import current_hour

ID = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16): nothing else names a path here
HOUR = re.compile(r"\d{4}-\d\d-\d\dT\d\d:00Z")


class UploadError(Exception):
    """A request about an upload that cannot be done; nothing was changed."""

    def __init__(self, upload_id: str = "") -> None:
        super().__init__(type(self).__name__)
        self.upload_id = upload_id


class UnknownUpload(UploadError):
    """No such upload (never made, deleted, committed, or a malformed id)."""


class UploadExpired(UploadError):
    pass


class UploadBusy(UploadError):
    """Another request holds this upload's lock (a part being written, a commit)."""


class QuotaReached(UploadError):
    pass


class TooLong(UploadError):
    """Past the upload's declared length, over one part's limit, or over the largest envelope."""


class CutShort(UploadError):
    """The part's body ended (or failed) before its length: nothing of it was kept."""


class WrongOffset(UploadError):
    def __init__(self, upload_id: str, offset: int) -> None:
        super().__init__(upload_id)
        self.offset = offset


@dataclass(frozen=True)
class UploadState:
    id: str
    offset: int  # bytes held, all synced
    length: int  # declared at creation
    expires: str  # an hour, "2026-12-02T21:00Z"
    committed: bool

    @property
    def complete(self) -> bool:
        return self.offset == self.length

    @property
    def expired(self) -> bool:
        return self.expires <= current_hour()[0]

    @property
    def expires_ts(self) -> int:
        return calendar.timegm(time.strptime(self.expires, "%Y-%m-%dT%H:00Z"))
