"""tipline-offline reply: seal a reply on the air-gapped machine (docs/offline.md, docs/conversations.md).

The reply is an envelope of format v1, kind "message", sealed to the
source's key and to every newsroom key the conversation's folder recorded
from its newest bundle, so the newsroom can read its own side offline. It
needs no secret key: sealing needs only public keys. The journalist carries
the envelope back and uploads it in the journalist app, which checks that it
has a stanza for this conversation's source before keeping it.
"""

from __future__ import annotations

import os
from pathlib import Path

from tipline.format.durable import fsync_dir
from tipline.format.header import MAX_RECIPIENTS
from tipline.format.keys import PublicKey
from tipline.format.payload import Metadata
from tipline.format.stream import EnvelopeWriter

from . import conversation

MAX_REPLY_TEXT = 64 * 1024  # bytes of UTF-8, as the journalist app's reply box allows
EXIT_ERROR, EXIT_USAGE, EXIT_DAMAGED = 1, 2, 5


class ReplyError(Exception):
    """The reply cannot be written; the message says why and what to do, with the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def recipients(folder: Path) -> tuple[str, list[PublicKey], list[PublicKey]]:
    """The conversation id, whom its replies are sealed to (the source first, then the newsroom),
    and which of the journalist's own keys the bundle's newsroom keys left out.

    The newsroom keys come from the server, which may be hostile: a journalist
    who decrypted this folder can always read their own reply, and is told
    when the bundle did not list their key.
    """
    if not (folder / conversation.CONVERSATION_FILE).is_file():
        raise ReplyError(
            f"{folder} is not a conversation folder: give the conversation-<id> folder that "
            f"decrypt wrote, which holds {conversation.CONVERSATION_FILE}.",
            EXIT_USAGE,
        )
    try:
        record = conversation.load(folder)
    except conversation.NotAConversation as e:
        raise ReplyError(str(e), EXIT_DAMAGED) from None
    except OSError as e:
        where = folder / conversation.CONVERSATION_FILE
        raise ReplyError(f"Cannot read {where}: {e.strerror or e}.", EXIT_ERROR) from None
    if record is None:  # removed since the check above
        raise ReplyError(f"{folder} no longer holds {conversation.CONVERSATION_FILE}.", EXIT_USAGE)
    source = PublicKey(bytes.fromhex(record["source_public_key"]))
    listed = [k for k in record["newsroom_keys"] if k != source.raw.hex()]
    unlisted = [k for k in record.get("reader_keys", []) if k not in listed and k != source.raw.hex()]
    newsroom = [PublicKey(bytes.fromhex(k)) for k in listed + unlisted]
    if not listed:
        raise ReplyError(
            "This conversation's folder records no newsroom key, so the newsroom could not read the "
            "reply. Export a fresh bundle (the server's keys travel in it), decrypt it here, and try again.",
            EXIT_ERROR,
        )
    if 1 + len(newsroom) > MAX_RECIPIENTS:
        raise ReplyError(
            f"The newsroom had {len(newsroom)} active keys at the last export; a reply can be sealed to "
            f"the source and at most {MAX_RECIPIENTS - 1} of them. Ask the admin to retire a key, "
            "then export, decrypt and try again.",
            EXIT_ERROR,
        )
    return record["conversation"], [source, *newsroom], newsroom[len(listed) :]


def read_message(path: Path) -> bytes:
    """The reply's text as UTF-8 bytes, checked: present, not empty, UTF-8, within the limit."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_REPLY_TEXT + 4)  # a leading byte-order mark does not count
    except FileNotFoundError:
        raise ReplyError(f"The message file {path} does not exist.", EXIT_USAGE) from None
    except OSError as e:
        raise ReplyError(f"Cannot read the message file {path}: {e.strerror or e}.", EXIT_ERROR) from None
    data = data.removeprefix(b"\xef\xbb\xbf")  # editors on Windows add it; it is not part of the text
    if len(data) > MAX_REPLY_TEXT:
        raise ReplyError(
            f"The message is longer than the {MAX_REPLY_TEXT:,} bytes a reply may hold. "
            "Shorten it; nothing was written.",
            EXIT_USAGE,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ReplyError(
            f"The message file {path} is not UTF-8 text. Save it as UTF-8; nothing was written.",
            EXIT_USAGE,
        ) from None
    if not text.strip():
        raise ReplyError(f"The message file {path} is empty; nothing was written.", EXIT_USAGE)
    return data


def write_reply(folder: Path, message_file: Path, out: Path) -> tuple[str, int, int, list[PublicKey]]:
    """Seal the reply into OUT, which must not exist.

    Returns (conversation id, recipients, bytes, own keys the bundle did not list).
    """
    cid, to, unlisted = recipients(folder)
    text = read_message(message_file)
    if out.exists() or out.is_symlink():
        raise ReplyError(f"{out} already exists; choose another -o. Nothing was written.", EXIT_ERROR)
    tmp = out.with_name(f".{out.name}.part")
    try:
        with open(tmp, "xb") as f:
            w = EnvelopeWriter(f, to)
            w.write(text)
            size = w.close(Metadata("message", "", "text/plain; charset=utf-8"))
            f.flush()
            os.fsync(f.fileno())
        _link(tmp, out)
        fsync_dir(out.parent)
    except FileExistsError:
        raise ReplyError(
            f"{out} already exists; choose another -o. Nothing was written.", EXIT_ERROR
        ) from None
    except OSError as e:
        raise ReplyError(
            f"Could not write {out}: {e.strerror or e}; nothing was written.", EXIT_ERROR
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return cid, len(to), size, unlisted


def _link(tmp: Path, out: Path) -> None:
    """Put the finished envelope in place without replacing anything."""
    try:
        os.link(tmp, out)  # fails if out exists, even if it appeared a moment ago
    except FileExistsError:
        raise
    except OSError:
        # File systems without hard links (FAT on USB sticks): check, then rename.
        if out.exists():
            raise FileExistsError(out) from None
        os.rename(tmp, out)
