"""Hostile file names on the no-JavaScript path: the tip arrives whole, the name shortened to fit.

Over real HTTP to a real gunicorn, then the real `tipline export` and
`tipline-offline decrypt`; the names are checked in the decrypted items.json.
"""

from __future__ import annotations

import json
import secrets
import unicodedata

from tests.conftest import submission_folders
from tipline.format.payload import MAX_META_BYTES, MAX_NAME_CHARS, MAX_TYPE_CHARS, Metadata

# name sent -> (what the kept name must start with, the extension it must end with)
HOSTILE = {
    "😀" * 1024: ("😀" * 100, ""),  # 4 bytes each: over the 4096 bytes of metadata
    "\x01" * 1000 + ".txt": ("\x01" * 100, ".txt"),  # JSON writes each as \u0001: 6 bytes
    "e\u0301" * 1500 + ".pdf": ("e\u0301" * 100, ".pdf"),  # combining marks, and over 1024 characters
    "名" * 2000 + ".docx": ("名" * 100, ".docx"),
    "🇫🇷" * 700 + ".png": ("🇫🇷" * 100, ".png"),  # flags: pairs of regional indicators
    "👩\u200d👩\u200d👧" * 400 + ".jpg": ("👩\u200d👩\u200d👧" * 20, ".jpg"),  # joined emoji
    "a." + "😀" * 1500: ("a." + "😀" * 100, ""),  # an "extension" too long to be one
    "x" * 3000 + ".tar.gz": ("x" * 100, ".gz"),
}
LONG_TYPE = "application/" + "\x02" * 600


def fits(name: str, media_type: str) -> bool:
    return len(Metadata("file", name, media_type).encode(2**64 - 1)) <= MAX_META_BYTES


def ends_whole(kept: str, sent: str) -> bool:
    """The cut fell between characters as a reader sees them: no mark, joiner or half flag lost."""
    stem = kept.rsplit("\u2026", 1)[0]
    rest = sent[len(stem) :]
    if not rest:
        return True
    first = rest[0]
    flags = sum(1 for c in stem[::-1] if 0x1F1E6 <= ord(c) <= 0x1F1FF)
    return (
        unicodedata.category(first) not in ("Mn", "Mc", "Me")
        and first != "\u200d"
        and not stem.endswith("\u200d")
        and not (0x1F1E6 <= ord(first) <= 0x1F1FF and flags % 2)
    )


def test_hostile_names_keep_the_tip_and_their_extension(server, export_and_decrypt):
    marker = f"LONGNAMES-{secrets.token_hex(6)}"
    token = server.csrf_token()
    files = [("files", name, f"{marker} {i}\n".encode() * 50, "text/plain") for i, name in enumerate(HOSTILE)]
    files.append(("files", "type.bin", f"{marker} type\n".encode(), LONG_TYPE))
    r = server.post_form([("csrf_token", token), ("message", marker)], files)
    assert r.status == 200 and b'id="codename"' in r.body, r.body[:300]

    out = export_and_decrypt(server)
    messages = {d: d / "message.txt" for d in submission_folders(out).values()}
    (sub,) = [d for d, m in messages.items() if m.is_file() and marker in m.read_text(errors="replace")]
    record = json.loads((sub / "items.json").read_text())
    got = {}
    for item in record["items"].values():
        if item["kind"] == "file":
            got[(sub / item["saved_as"]).read_bytes()] = item
    assert len(got) == len(files)  # every file arrived, none merged or lost
    for _field, sent, content, _type in files:
        item = got[content]
        kept = item["original_name"]
        assert fits(kept, item["media_type"])
        assert len(kept) <= MAX_NAME_CHARS and len(item["media_type"]) <= MAX_TYPE_CHARS
        if sent == "type.bin":
            assert kept == sent and LONG_TYPE.startswith(item["media_type"]) and item["media_type"]
            continue
        start, ext = HOSTILE[sent]
        assert kept.startswith(start) and kept.endswith("\u2026" + ext), (kept[:20], kept[-20:])
        assert sent.startswith(kept[: -len("\u2026" + ext)])  # the start of the name, as sent
        assert ends_whole(kept, sent)
        assert len(kept) > 200  # shortened only as far as needed, not to a stub
