"""The newsroom's own page: its name, logo and texts, each with per-language variants (no Flask).

Set in tipline.toml's [newsroom] table, with [newsroom.es], [newsroom.ar], ...
overriding any of them for one language (docs/newsroom.md). Everything is plain
text: anything that looks like HTML is refused, never escaped and shown, so the
newsroom sees its mistake at start instead of a source seeing "&lt;b&gt;". The
logo is read once, checked by its bytes and kept in memory with its SRI hash:
what the source's browser gets is exactly what was checked.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import re
import stat
import struct
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEXTS = ("name", "intro", "other_ways", "verify")
KEYS = ("name", "logo", "intro", "other_ways", "verify")
LIMITS = {"name": 100, "intro": 2000, "other_ways": 1000, "verify": 1000}
LOGO_MAX_BYTES = 256 * 1024
LOGO_MAX_SIDE = 4096
# The file name's suffix says which kind it claims to be; its bytes must agree.
SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXT = {"png": "png", "jpeg": "jpg", "webp": "webp"}

# "<b", "</", "<!--", "<?xml", "&amp;", "&#60;": a tag or an entity. "a < b" and "R&D" are fine.
_MARKUP = re.compile(r"<[A-Za-z/!?]|&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class NewsroomError(Exception):
    """A [newsroom] setting is wrong; the one-line message says which and how to fix it."""


@dataclass(frozen=True)
class Logo:
    """A logo that passed every check, held in memory so the served bytes are the checked bytes."""

    data: bytes
    kind: str
    width: int
    height: int

    @property
    def mime(self) -> str:
        return MIME[self.kind]

    @property
    def ext(self) -> str:
        return EXT[self.kind]

    @property
    def sri(self) -> str:
        return "sha384-" + base64.b64encode(hashlib.sha384(self.data).digest()).decode()


@dataclass(frozen=True)
class Voice:
    """What one language's pages show: a name, a logo, and texts as tuples of paragraphs."""

    name: str = ""
    logo: Logo | None = None
    intro: tuple[str, ...] = ()
    other_ways: tuple[str, ...] = ()
    verify: tuple[str, ...] = ()


@dataclass(frozen=True)
class Newsroom:
    default: Voice = field(default_factory=Voice)
    languages: Mapping[str, Voice] = field(default_factory=dict)

    def voice(self, code: str) -> Voice:
        """The language's own settings, each falling back to the [newsroom] table's."""
        return self.languages.get(code, self.default)


class _Bad(Exception):
    pass


def with_paths(table: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """The table with each relative logo path made absolute from `base` (the settings file's folder)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            out[key] = with_paths(value, base)
        elif key == "logo" and isinstance(value, str) and value:
            out[key] = str(base / Path(value).expanduser())
        else:
            out[key] = value
    return out


def problems(table: Mapping[str, Any], offered: Collection[str]) -> list[str]:
    """Every problem with the [newsroom] settings, one line each (for `tipline doctor`)."""
    return _build(table, offered)[1]


def load(table: Mapping[str, Any], offered: Collection[str]) -> Newsroom:
    """The checked settings, logos read; raises NewsroomError with the first problem."""
    newsroom, found = _build(table, offered)
    if found:
        raise NewsroomError(found[0])
    return newsroom


def _build(table: Mapping[str, Any], offered: Collection[str]) -> tuple[Newsroom, list[str]]:
    found: list[str] = []
    langs = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    own = {k: v for k, v in table.items() if k not in langs}
    default = Voice(**_values("[newsroom]", own, found))
    voices: dict[str, Voice] = {}
    for code, sub in langs.items():
        where = f"[newsroom.{code}]"
        if code not in offered:
            found.append(
                f"{where}: this tip line has no pages in {code!r} (it offers {', '.join(offered)}). "
                "Remove the table, or add the language first (docs/translating.md)."
            )
            continue
        nested = [k for k, v in sub.items() if isinstance(v, Mapping)]
        found += [f"{where}: unexpected table {k!r} inside a language's table." for k in nested]
        values = _values(where, {k: v for k, v in sub.items() if k not in nested}, found)
        voices[code] = dataclasses.replace(default, **values)
    return Newsroom(default, voices), found


def _values(where: str, table: Mapping[str, Any], found: list[str]) -> dict[str, Any]:
    """The checked values of one table (only the keys it sets), adding a line to `found` per problem."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        try:
            if key == "logo":
                out[key] = read_logo(where, value)
            elif key in TEXTS:
                out[key] = _text(where, key, value)
            else:
                raise _Bad(
                    f"{where}: unknown setting {key!r}; the settings are name, logo, intro, "
                    "other_ways and verify (docs/newsroom.md)."
                )
        except _Bad as e:
            found.append(str(e))
    return out


def _text(where: str, key: str, value: Any) -> str | tuple[str, ...]:
    """A name (one line) or paragraphs (split on blank lines), plain text only."""
    if not isinstance(value, str):
        raise _Bad(f"{where} {key} should be text in quotes, not {type(value).__name__}.")
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    limit = LIMITS[key]
    if len(text) > limit:
        raise _Bad(f"{where} {key} is {len(text):,} characters long; the most is {limit:,}. Shorten it.")
    markup = _MARKUP.search(text)
    if markup:
        raise _Bad(
            f"{where} {key} holds {markup.group(0)!r}, which looks like HTML. Write plain text: it is "
            "shown exactly as written, never as HTML (a blank line starts a new paragraph)."
        )
    if key == "name" and "\n" in text:
        raise _Bad(f"{where} name should be on one line.")
    control = _CONTROL.search(text)
    if control:
        raise _Bad(f"{where} {key} holds a control character (U+{ord(control.group(0)):04X}); remove it.")
    if key == "name":
        return text
    paragraphs = ("\n".join(ln.strip() for ln in p.split("\n")).strip() for p in _BLANK_LINES.split(text))
    return tuple(p for p in paragraphs if p)


def read_logo(where: str, value: Any) -> Logo:
    """Read and check a logo file: PNG, JPEG or WebP by name and by bytes, small, with a size."""
    if not isinstance(value, str) or not value:
        raise _Bad(f"{where} logo should be the path of a PNG, JPEG or WebP file, in quotes.")
    path = Path(value)
    claimed = SUFFIXES.get(path.suffix.lower())
    if claimed is None:
        raise _Bad(
            f"{where} logo {path}: only PNG, JPEG and WebP files are used (.png, .jpg, .jpeg, .webp); "
            "convert it to one of those."
        )
    try:
        # O_NONBLOCK: a FIFO or device named as the logo must not hang the start.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _Bad(f"{where} logo {path} is not a regular file.")
            with open(fd, "rb", closefd=False) as f:
                data = f.read(LOGO_MAX_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as e:
        raise _Bad(f"{where} logo: cannot read {path} ({e.strerror}).") from None
    if len(data) > LOGO_MAX_BYTES:
        raise _Bad(f"{where} logo {path} is larger than {LOGO_MAX_BYTES // 1024} KiB; make it smaller.")
    kind = sniff(data)
    if kind is None:
        raise _Bad(f"{where} logo {path} is not a PNG, JPEG or WebP image: its first bytes are neither.")
    if kind != claimed:
        raise _Bad(
            f"{where} logo {path} is named {path.suffix} but its bytes are a {kind.upper()} image; "
            f"rename it to .{EXT[kind]}."
        )
    try:
        width, height = SIZE[kind](data)
    except (ValueError, struct.error):
        raise _Bad(
            f"{where} logo {path} is damaged or cut short: its {kind.upper()} header gives no width "
            "and height."
        ) from None
    if not (1 <= width <= LOGO_MAX_SIDE and 1 <= height <= LOGO_MAX_SIDE):
        raise _Bad(f"{where} logo {path} is {width}×{height} pixels; each side must be 1 to {LOGO_MAX_SIDE}.")
    return Logo(data, kind, width, height)


def sniff(data: bytes) -> str | None:
    """The image kind its first bytes say, or None."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first and have a good CRC."""
    length, kind = struct.unpack(">I4s", data[8:16])
    body = data[12:29]
    if length != 13 or kind != b"IHDR" or len(data) < 33:
        raise ValueError("no IHDR")
    if zlib.crc32(body) != struct.unpack(">I", data[29:33])[0]:
        raise ValueError("bad IHDR CRC")
    return struct.unpack(">II", data[16:24])


# JPEG frame headers: SOF0..SOF15 but DHT (C4), JPG (C8) and DAC (CC), which share the range.
_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from the first frame header, walking the markers that come before it."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError("not a marker")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # the end, or image data, before any frame header
            raise ValueError("no frame header")
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2:
            raise ValueError("bad length")
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    raise ValueError("cut short")


def webp_size(data: bytes) -> tuple[int, int]:
    """Width and height from the first chunk (VP8, VP8L or VP8X); the RIFF length must be the file's."""
    (riff,) = struct.unpack("<I", data[4:8])
    if riff + 8 + (riff & 1) != len(data) or len(data) < 30:
        raise ValueError("cut short or trailing bytes")
    chunk, payload = data[12:16], data[20:30]
    if chunk == b"VP8 " and payload[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", payload[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and payload[0] == 0x2F:
        (bits,) = struct.unpack("<I", payload[1:5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return 1 + int.from_bytes(payload[4:7], "little"), 1 + int.from_bytes(payload[7:10], "little")
    raise ValueError("unknown first chunk")


SIZE = {"png": png_size, "jpeg": jpeg_size, "webp": webp_size}
