"""Sealing a reply on the server (JavaScript off) and what it is sealed to."""

from __future__ import annotations

import pytest

from tests.store.conversation_helpers import Source
from tipline.format.keys import SecretKey
from tipline.format.stream import decrypt_bytes
from tipline.store.replies import (
    MAX_REPLY_ENVELOPE,
    MAX_REPLY_TEXT,
    EmptyReply,
    NoNewsroomKey,
    ReplyTextTooLong,
    TooManyNewsroomKeys,
    reply_recipients,
    seal_reply,
)


def test_a_reply_opens_for_the_source_and_for_every_journalist_key():
    source = Source.new()
    newsroom = [SecretKey.generate() for _ in range(3)]
    to = reply_recipients(source.public_key, [k.public_key for k in newsroom])
    assert to[0].raw == source.derived.public_key and len(to) == 4
    envelope = seal_reply("Wer hat das Dokument? ✓", to)
    for key in [source.secret_key, *newsroom]:
        meta, content = decrypt_bytes(envelope, [key])
        assert (meta.kind, meta.name, content.decode()) == ("message", "", "Wer hat das Dokument? ✓")


def test_the_longest_reply_to_the_most_keys_fits_the_envelope_limit():
    source = Source.new()
    to = reply_recipients(source.public_key, [SecretKey.generate().public_key for _ in range(31)])
    envelope = seal_reply("é" * (MAX_REPLY_TEXT // 2), to)
    assert len(to) == 32 and len(envelope) <= MAX_REPLY_ENVELOPE
    with pytest.raises(ReplyTextTooLong):
        seal_reply("é" * (MAX_REPLY_TEXT // 2) + "x", to)
    with pytest.raises(EmptyReply):
        seal_reply(" \r\n\t", to)


def test_a_reply_needs_one_to_31_journalist_keys():
    source = Source.new()
    with pytest.raises(NoNewsroomKey):
        reply_recipients(source.public_key, [])
    with pytest.raises(TooManyNewsroomKeys, match="retire a key"):
        reply_recipients(source.public_key, [SecretKey.generate().public_key for _ in range(32)])
