"""The commit: a tip made of envelopes that arrived in parts (docs/uploads.md "What the commit checks").

Under every named upload's lock: each must exist, not have expired, and hold
all its length. Each is then linked into the intake and checked as an envelope
sent in one request is (tipline/store/envelopes.py), and the intake committed
as usual. Only then are the uploads marked committed and their data dropped,
so that a commit whose answer was lost can be sent again and stores nothing twice.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Sequence

from tipline.textmark import N_

from .envelopes import EnvelopeRejected, IntakeError
from .submissions import Intake
from .upload_state import UnknownUpload, UploadBusy, UploadExpired
from .uploads import PendingUploads

log = logging.getLogger(__name__)

NOT_RIGHT = N_("Something in what was sent was not right. Nothing was kept. Go back and try again.")


class UploadsIncomplete(IntakeError):
    """Some uploads do not hold their whole length yet (or are being written): resume, then commit again."""

    status = 409

    def __init__(self, upload_ids: Sequence[str]) -> None:
        super().__init__(
            N_("Some of your files have not finished sending. Nothing was kept yet: the page sends the rest.")
        )
        self.details = {"incomplete": list(upload_ids)}


class UploadsGone(IntakeError):
    """An upload expired, or never was: the source must send it again."""

    status = 410

    def __init__(self, upload_ids: Sequence[str]) -> None:
        super().__init__(
            N_(
                "Part of your tip waited too long on the server, or is not there. "
                "Nothing was kept: send it again."
            )
        )
        self.details = {"gone": list(upload_ids)}


def commit_uploads(uploads: PendingUploads, upload_ids: Sequence[str], intake: Intake) -> bool:
    """Make these uploads, in this order, the intake's items and commit it.

    Returns False when they were all committed before (a retry): the intake
    stays empty and the caller aborts it. A damaged envelope (EnvelopeRejected)
    deletes every named upload: nothing of the tip is kept. A full disk keeps
    them, for a later commit.
    """
    if not upload_ids or len(set(upload_ids)) != len(upload_ids) or intake.items:
        raise IntakeError(NOT_RIGHT)
    try:
        with uploads.claim(upload_ids) as states:
            done = [i for i in upload_ids if states[i].committed]
            if len(done) == len(upload_ids):
                return False
            if done:  # committed with another tip: not this one's to take
                raise UploadsGone(done)
            expired = [i for i in upload_ids if states[i].expired]
            if expired:
                raise UploadsGone(expired)
            incomplete = [i for i in upload_ids if not states[i].complete]
            if incomplete:
                raise UploadsIncomplete(incomplete)
            try:
                for upload_id in upload_ids:
                    intake.linked_item(uploads.data_path(upload_id))
            except EnvelopeRejected:
                intake.abort()
                uploads.discard(upload_ids)
                raise
            intake.commit()  # StorageFull: the uploads stay
            try:
                uploads.mark_committed(upload_ids)
            except OSError as e:  # the tip is stored: a retry may store it twice, nothing is lost
                log.warning("could not mark uploads committed (%s)", errno.errorcode.get(e.errno or 0, "?"))
            return True
    except (UnknownUpload, UploadExpired) as e:
        raise UploadsGone([e.upload_id]) from None
    except UploadBusy as e:  # a part still being written for longer than the wait
        raise UploadsIncomplete([e.upload_id]) from None
