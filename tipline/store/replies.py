"""What a reply is sealed to, how large it may be, and the server's sealing of one (JavaScript off).

docs/conversations.md "Replies": a reply is a v1 envelope sealed to the
conversation's source key and to every active journalist key. The text is
sealed in memory and only the envelope goes on to the store. No Flask here.
"""

from __future__ import annotations

from collections.abc import Sequence

from tipline.format.errors import UnsealableKey
from tipline.format.header import MAX_RECIPIENTS
from tipline.format.keys import PublicKey, check_sealable
from tipline.format.payload import Metadata
from tipline.format.stream import seal_bytes
from tipline.textmark import J_

from .submissions import IntakeError

# A reply is text: 64 KiB of it (UTF-8) is pages of questions.
MAX_REPLY_TEXT = 64 * 1024
# The envelope of the longest reply sealed to 32 recipients is about 71 KiB
# (Padmé, the header's 32 stanzas, the chunk tags); this leaves room to spare.
MAX_REPLY_ENVELOPE = 128 * 1024
MESSAGE = Metadata("message", "", "text/plain; charset=utf-8")


class EmptyReply(IntakeError):
    def __init__(self) -> None:
        super().__init__(J_("The reply is empty. Nothing was sent: write the reply, then send it."))


class ReplyTextTooLong(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            J_(
                "This reply is longer than the %(limit)s bytes a reply may be. "
                "Nothing was kept: shorten it, or split it over two replies."
            ),
            limit=f"{MAX_REPLY_TEXT:,}",
        )


class NoNewsroomKey(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            J_(
                "This tip line has no active journalist key, so the newsroom could not read its own reply. "
                "Nothing was kept: an administrator must add a key with `tipline keys add` first."
            )
        )


class TooManyNewsroomKeys(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            J_(
                "This tip line has more than %(most)s active journalist keys, and a reply can be sealed "
                "to %(limit)s keys at most, the source's among them. Nothing was kept: an administrator "
                "must retire a key with `tipline keys retire` first."
            ),
            most=MAX_RECIPIENTS - 1,
            limit=MAX_RECIPIENTS,
        )


class UnsealableSource(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            J_(
                "This conversation's source key is one that nothing can be sealed to, so no reply could "
                "reach its source. Its tips can still be read; a reply cannot be sent."
            )
        )


def reply_recipients(source_key: PublicKey, journalist_keys: Sequence[PublicKey]) -> list[PublicKey]:
    """The source's key first, then every active journalist key: at most 32 in all.

    The source's key is checked here as well as where it arrives, for a
    conversation the server kept before that check existed.
    """
    try:
        check_sealable(source_key.raw)
    except UnsealableKey:
        raise UnsealableSource from None
    if not journalist_keys:
        raise NoNewsroomKey
    if len(journalist_keys) > MAX_RECIPIENTS - 1:
        raise TooManyNewsroomKeys
    return [source_key, *journalist_keys]


def seal_reply(text: str, recipients: Sequence[PublicKey]) -> bytes:
    """The envelope of a reply typed with JavaScript off; the text lives only in memory."""
    if not text.strip():
        raise EmptyReply
    content = text.encode("utf-8")
    if len(content) > MAX_REPLY_TEXT:
        raise ReplyTextTooLong
    return seal_bytes(content, MESSAGE, recipients)
