"""What the server checks of an envelope sealed in the browser, without any key (docs/envelope.md).

One code path for both ways an envelope arrives: streamed in a single request
(submissions.BrowserSealedItem, which checks as the bytes come) and in parts
(submissions.LinkedItem, which checks the finished upload at the commit).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from tipline.format.errors import MalformedHeader, TiplineError
from tipline.format.header import MAX_RECIPIENTS, STANZA_BYTES, STREAM_HEADER_BYTES, read_header
from tipline.format.stream import check_length
from tipline.textmark import N_

MAX_HEADER = 9 + MAX_RECIPIENTS * STANZA_BYTES + STREAM_HEADER_BYTES


class IntakeError(Exception):
    """The upload is unacceptable; the message is safe to show the source.

    `message` is an English msgid (marked with N_ for the catalogs) with %(name)s
    placeholders filled from `params`; the web layer shows it translated, with
    the HTTP `status` and any `details` (JSON fields for the page's script).
    """

    status = 400

    def __init__(self, message: str, **params: object) -> None:
        self.message = message
        self.params = params
        self.details: dict[str, object] = {}
        super().__init__(message % params if params else message)


class UploadTooLarge(IntakeError):
    status = 413


class EnvelopeRejected(IntakeError):
    """An envelope failed its checks: whatever holds it (an upload in parts) is worthless too."""


TOO_LARGE = N_(
    "What you sent is larger than this tip line accepts. Nothing was kept. "
    "Send fewer or smaller files, or split them over several tips."
)


def spend(budget: list[int], n: int) -> None:
    """Take n bytes from a tip's allowance (shared by its items); UploadTooLarge once it is spent."""
    budget[0] -= n
    if budget[0] < 0:
        raise UploadTooLarge(TOO_LARGE)


def check_head(head: bytes, expected_key_ids: Sequence[bytes], final: bool) -> int | None:
    """The header's length if `head` starts with a whole header sealed to exactly these keys.

    None when more bytes may still complete it (`final` false and not past the
    largest header); EnvelopeRejected when it never can, or names other keys.
    """
    try:
        header, raw = read_header(io.BytesIO(head))
    except MalformedHeader:
        if final or len(head) > MAX_HEADER:
            raise EnvelopeRejected(
                N_("An encrypted item is damaged (its header is cut short). Nothing was kept: send again.")
            ) from None
        return None
    except TiplineError:
        raise EnvelopeRejected(
            N_(
                "An encrypted item is not in a form this tip line takes. "
                "Nothing was kept: reload the page and send again."
            )
        ) from None
    if sorted(s.key_id for s in header.stanzas) != sorted(expected_key_ids):
        raise EnvelopeRejected(
            N_(
                "The encryption keys changed since this page was loaded. Nothing was kept: "
                "reload the page and send again."
            )
        )
    return len(raw)


def check_whole(header_length: int, size: int) -> None:
    """The envelope's length must be the one its header and the padded length give (check_length)."""
    try:
        check_length(header_length, size)
    except TiplineError:
        raise EnvelopeRejected(
            N_("An encrypted item is damaged or incomplete. Nothing was kept: send again.")
        ) from None
