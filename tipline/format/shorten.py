"""Shorten a file's name and media type so that its metadata always fits (docs/envelope.md).

A name is whatever the source's system gave: 1,024 emoji, or control
characters that JSON writes as six bytes each, would make the meta JSON larger
than MAX_META_BYTES, and the tip would be refused. Shortened instead, the
name keeps its start and its extension, with "…" where the middle was, and is
cut only between characters as a reader sees them. envelope.js follows the
same rule (TiplineEnvelope.fileMeta), and a test holds the two to it.
"""

from __future__ import annotations

import json
import unicodedata

from .payload import MAX_META_BYTES, MAX_NAME_CHARS, MAX_TYPE_CHARS, Metadata

ELLIPSIS = "\u2026"
MAX_EXTENSION_CHARS = 16  # ".pdf", ".docx", ".tar.gz" (as ".gz"); longer is not an extension
# The meta of a file with an empty name and type, and the longest length JSON could carry.
_FRAME_BYTES = len(Metadata("file").encode(2**64 - 1))
ZWJ = "\u200d"


def _json_bytes(s: str) -> int:
    """How many bytes `s` takes inside the meta JSON (escapes included)."""
    return len(json.dumps(s, ensure_ascii=False).encode("utf-8")) - 2


def _well_formed(s: str) -> str:
    """Lone surrogates (not Unicode scalar values, so not UTF-8) become U+FFFD."""
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in s)


def _attaches(c: str) -> bool:
    """A character that belongs to the one before it: a mark, a joiner, a selector, a modifier."""
    o = ord(c)
    return (
        unicodedata.category(c) in ("Mn", "Mc", "Me")
        or c == ZWJ
        or 0xFE00 <= o <= 0xFE0F  # variation selectors
        or 0xE0100 <= o <= 0xE01EF
        or 0x1F3FB <= o <= 0x1F3FF  # emoji skin tones
        or 0xE0020 <= o <= 0xE007F  # emoji tag characters (subdivision flags)
    )


def _regional(c: str) -> bool:
    return 0x1F1E6 <= ord(c) <= 0x1F1FF


def boundary(s: str, k: int) -> int:
    """The largest cut at or before k that splits no character as a reader sees it."""
    while 0 < k < len(s):
        if _attaches(s[k]) or s[k - 1] == ZWJ:
            k -= 1
        elif _regional(s[k]) and _regional(s[k - 1]):
            run = 0  # regional indicators pair up into flags from the start of their run
            while run < k and _regional(s[k - 1 - run]):
                run += 1
            if run % 2 == 0:
                break
            k -= 1
        else:
            break
    return max(k, 0)


def _prefix(s: str, max_chars: int, max_bytes: int) -> str:
    k, used = 0, 0
    while k < len(s) and k < max_chars:
        used += _json_bytes(s[k])
        if used > max_bytes:
            break
        k += 1
    return s[: boundary(s, k)]


def split_extension(name: str) -> tuple[str, str]:
    """("report", ".pdf"); no extension if the dot starts the name or too much follows it."""
    dot = name.rfind(".")
    if dot <= 0 or len(name) - dot > MAX_EXTENSION_CHARS:
        return name, ""
    return name[:dot], name[dot:]


def file_metadata(name: str, media_type: str) -> Metadata:
    """Metadata for a file, with the name and type shortened as needed: its JSON always fits."""
    name, media_type = _well_formed(name), _well_formed(media_type)
    media_type = _prefix(media_type, MAX_TYPE_CHARS, MAX_META_BYTES)
    budget = MAX_META_BYTES - _FRAME_BYTES - _json_bytes(media_type)
    if len(name) <= MAX_NAME_CHARS and _json_bytes(name) <= budget:
        return Metadata("file", name, media_type)
    stem, ext = split_extension(name)
    room = len(ELLIPSIS) + len(ext)
    stem = _prefix(stem, MAX_NAME_CHARS - room, budget - _json_bytes(ELLIPSIS + ext))
    return Metadata("file", stem + ELLIPSIS + ext, media_type)
