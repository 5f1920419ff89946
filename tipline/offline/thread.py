"""thread.txt: a conversation as one plain text, written from its folder (docs/offline.md).

It is a derived file: decrypt rewrites it, atomically, from conversation.json
and the item folders each time a bundle brings the conversation, so it
always shows everything decrypted so far. The messages themselves stay
byte for byte in each item's folder; here control characters are replaced,
so that showing the file in a terminal cannot run escape sequences.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path, PurePosixPath

from .conversation import THREAD_FILE
from .files import replace_file

MAX_SHOWN = 256 * 1024  # of one message; the rest is in its file
RECORD = "items.json"


def _clean(text: str) -> str:
    """Printable text: control characters other than tab and newline become U+FFFD."""
    text = text.replace("\r\n", "\n")
    return "".join(
        ch if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs") else "\ufffd" for ch in text
    )


def _when(hour: str) -> str:
    return f"{hour[:10]} {hour[11:13]}:00 UTC"


def _saved(item_dir: Path, saved_as: object) -> Path | None:
    """The file an items.json entry names, if it is a plain name inside the item's folder."""
    if not isinstance(saved_as, str):
        return None
    parts = PurePosixPath(saved_as).parts
    if not parts or len(parts) > 2 or any(p in ("", ".", "..") for p in parts) or saved_as.startswith("/"):
        return None
    path = item_dir.joinpath(*parts)
    return path if path.is_file() and not path.is_symlink() else None


def _message(path: Path) -> str:
    with open(path, "rb") as f:
        data = f.read(MAX_SHOWN + 1)
    text = _clean(data[:MAX_SHOWN].decode("utf-8", "replace")).rstrip("\n")
    if len(data) > MAX_SHOWN:
        text += f"\n[... the message goes on: read all of it in {path.parent.name}/{path.name}]"
    return text


def _body(item_dir: Path) -> list[str]:
    try:
        record = json.loads((item_dir / RECORD).read_text("utf-8"))
        items = list(record["items"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    lines: list[str] = []
    files: list[str] = []
    for i in items:
        path = _saved(item_dir, i.get("saved_as") if isinstance(i, dict) else None)
        if path is None:
            continue
        if i.get("kind") == "message":
            lines += [_message(path), ""]
        else:
            files.append(_clean(i["saved_as"]))
    if files:
        lines += [f"Attached (in {item_dir.name}/): " + ", ".join(files), ""]
    return lines


def render(folder: Path, record: dict) -> str:
    lines = [
        f"Conversation {record['conversation']}",
        "Written by tipline-offline decrypt from the folders beside this file, and rewritten each time",
        "it runs. Hours are UTC, rounded down: items within one hour may be in any order.",
        "",
    ]
    for item in record["items"]:
        who = "Source" if item["kind"] == "submission" else f"Newsroom ({item['journalist']})"
        lines += [f"--- {_when(item['hour'])} · {who} ---", ""]
        item_dir = folder / item["folder"]
        body = _body(item_dir) if item_dir.is_dir() else []
        deleted = item["kind"] == "reply" and item["deleted_by_source"]
        if body:
            lines += body
            if deleted:
                lines += ["(The source has since deleted this reply.)", ""]
        elif deleted:
            lines += ["(The source deleted this reply after reading it; the bundle no longer held it.)", ""]
        else:
            lines += ["(Not decrypted here yet: see the messages of the decrypt run.)", ""]
    return "\n".join(lines)


def write(folder: Path, record: dict) -> None:
    """Rewrite thread.txt if what it should say has changed."""
    data = render(folder, record).encode("utf-8", "replace")
    try:
        if (folder / THREAD_FILE).read_bytes() == data:
            return
    except OSError:
        pass
    replace_file(folder, THREAD_FILE, data, "thread")
