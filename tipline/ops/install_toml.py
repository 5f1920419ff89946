"""`tipline install`: its two settings in tipline.toml, onion_address and [newsroom] name.

The admin's own settings stay as written, comments included: only the one
line of each setting is replaced or added, and the result is read back with
tomllib and must equal the old settings with just these two values changed.
Anything else (the setting written in another form, say) is refused with what
to edit by hand, rather than guessed at.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from typing import Any

from tipline.ops.install_layout import InstallError

_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _quoted(value: str) -> str:
    """A TOML basic string: JSON's escapes (\\", \\\\, \\uXXXX) are TOML's too."""
    return json.dumps(value, ensure_ascii=False)


def _key_line(key: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*{re.escape(key)}\s*=")


def _set(lines: list[str], table: str | None, key: str, value: str) -> list[str]:
    """LINES with KEY = VALUE in TABLE (None: the top, before any table), replaced or added."""
    line = f"{key} = {_quoted(value)}"
    current: str | None = None
    start = 0 if table is None else None  # where the table's lines begin
    end = len(lines)
    for i, text in enumerate(lines):
        m = _TABLE.match(text)
        if m:
            if current == table and start is not None:
                end = i
                break
            current = m.group(1)
            if current == table:
                start = i + 1
        if table is None and m:
            end = i
            break
    if start is None:  # no such table yet: add it at the end
        return [*lines, *([""] if lines and lines[-1].strip() else []), f"[{table}]", line]
    for i in range(start, end):
        if _key_line(key).match(lines[i]):
            return [*lines[:i], line, *lines[i + 1 :]]
    gap = [""] if table is None and start < len(lines) and _TABLE.match(lines[start]) else []
    return [*lines[:start], line, *gap, *lines[start:]]


def updated(text: str, onion_address: str | None, name: str) -> str:
    """TEXT with onion_address (when given) and [newsroom] name set; raises InstallError if that
    cannot be done line by line without changing anything else."""
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InstallError(
            f"tipline.toml is not valid TOML ({e}): correct it, then run tipline install again.", 2
        ) from None
    want: dict[str, Any] = dict(before)
    newsroom = before.get("newsroom", {})
    if not isinstance(newsroom, Mapping):
        raise InstallError(
            "tipline.toml's newsroom is not a table: make it [newsroom] (docs/newsroom.md).", 2
        )
    want["newsroom"] = {**newsroom, "name": name}
    if onion_address is not None:
        want["onion_address"] = onion_address
    if want == before:
        return text
    lines = text.splitlines()
    if onion_address is not None and before.get("onion_address") != onion_address:
        lines = _set(lines, None, "onion_address", onion_address)
    if newsroom.get("name") != name:
        lines = _set(lines, "newsroom", "name", name)
    out = "\n".join(lines) + "\n"
    try:
        after = tomllib.loads(out)
    except tomllib.TOMLDecodeError:
        after = None
    if after != want:
        raise InstallError(
            "Cannot set onion_address and [newsroom] name in tipline.toml without changing other lines: "
            f"set them by hand (onion_address = {_quoted(onion_address or '')}, and name in [newsroom]).",
            2,
        )
    return out
