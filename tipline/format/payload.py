"""What travels inside the encryption: content, padding, metadata, its length.

P = content || zero padding || meta (JSON) || meta_length (2 bytes), padded so
that len(P) = padme(len(content) + len(meta) + 2). See docs/envelope.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from .errors import MalformedPayload

MAX_META_BYTES = 4096
MAX_NAME_CHARS = 1024
MAX_TYPE_CHARS = 255
META_LENGTH_BYTES = 2

Kind = Literal["message", "file"]


@dataclass(frozen=True)
class Metadata:
    """The part of an item that only recipients may see."""

    kind: Kind
    name: str = ""
    media_type: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("message", "file"):
            raise ValueError(f"kind must be 'message' or 'file', not {self.kind!r}")
        if len(self.name) > MAX_NAME_CHARS or len(self.media_type) > MAX_TYPE_CHARS:
            raise ValueError("name or media type is too long")
        # Never write what a reader must refuse (decode_meta below).
        if not _is_scalar_text(self.name) or not _is_scalar_text(self.media_type):
            raise ValueError("name or media type holds a lone surrogate; replace it with U+FFFD")
        if self.kind == "message" and self.name:
            raise ValueError("a message has no file name")

    def encode(self, length: int) -> bytes:
        """The meta JSON for content of this length (keys in a fixed order)."""
        obj = {"v": 1, "kind": self.kind, "name": self.name, "type": self.media_type, "length": length}
        data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if len(data) > MAX_META_BYTES:
            raise ValueError("metadata does not fit in 4096 bytes")
        return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise MalformedPayload("The item's metadata repeats a key.")
    return dict(pairs)


def decode_meta(data: bytes) -> tuple[Metadata, int]:
    """Parse and check meta; returns the metadata and the content length."""
    try:
        obj = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise MalformedPayload("The item's metadata is not valid JSON.") from None
    if not isinstance(obj, dict) or set(obj) != {"v", "kind", "name", "type", "length"}:
        raise MalformedPayload("The item's metadata has missing or unknown fields.")
    v, kind, name, mtype, length = obj["v"], obj["kind"], obj["name"], obj["type"], obj["length"]
    # bool is a subclass of int in Python: exclude it explicitly.
    if type(v) is not int or v != 1:
        raise MalformedPayload("The item's metadata has an unknown version.")
    if type(length) is not int or length < 0:
        raise MalformedPayload("The item's metadata has an invalid length.")
    if kind not in ("message", "file") or not isinstance(name, str) or not isinstance(mtype, str):
        raise MalformedPayload("The item's metadata has an invalid field.")
    if len(name) > MAX_NAME_CHARS or len(mtype) > MAX_TYPE_CHARS:
        raise MalformedPayload("The item's metadata has an overlong field.")
    # JSON's \ud800 escapes can spell lone surrogates, which are not Unicode
    # scalar values: such a string has no UTF-8 form and breaks every writer.
    if not _is_scalar_text(name) or not _is_scalar_text(mtype):
        raise MalformedPayload("The item's metadata holds text that is not valid Unicode.")
    if kind == "message" and name:
        raise MalformedPayload("The item's metadata gives a message a file name.")
    return Metadata(kind, name, mtype), length


def _is_scalar_text(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
