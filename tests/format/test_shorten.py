"""file_metadata: any name and media type give metadata that fits, with the name's start and extension."""

from __future__ import annotations

import random

import pytest

from tipline.format.payload import MAX_META_BYTES, Metadata, decode_meta
from tipline.format.shorten import ELLIPSIS, boundary, file_metadata, split_extension

# Characters that cost the most in the JSON, that attach to the one before, or that pair up.
ALPHABET = list('a.\x01\n"\\é名😀\u0301\u200d\ufe0f🏽🇫🇷\ud800')


def hostile_name(rng: random.Random) -> str:
    body = "".join(rng.choice(ALPHABET) for _ in range(rng.choice([0, 5, 900, 1100, 3000])))
    return body + rng.choice(["", ".pdf", ".x" * 3, "." + "😀" * 20, ".\x01"])


@pytest.mark.parametrize("seed", range(300))
def test_any_name_fits_and_keeps_its_start_and_extension(seed):
    rng = random.Random(seed)
    name, mtype = hostile_name(rng), "".join(rng.choice(ALPHABET) for _ in range(rng.choice([0, 10, 400])))
    meta = file_metadata(name, mtype)
    data = meta.encode(2**64 - 1)  # raises if it does not fit
    assert len(data) <= MAX_META_BYTES
    assert decode_meta(data)[0] == meta  # valid UTF-8 JSON that reads back the same
    clean = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in name)
    if meta.name == clean:
        return  # it fitted as it was
    stem, ext = split_extension(clean)
    assert meta.name.endswith(ELLIPSIS + ext)
    kept = meta.name[: -len(ELLIPSIS + ext)]
    assert stem.startswith(kept) and boundary(stem, len(kept)) == len(kept)


def test_names_that_fit_are_unchanged():
    for name in ["report.pdf", "", "é" * 1024, "\x01" * 600, "😀" * 1000 + ".txt"]:
        assert file_metadata(name, "application/pdf") == Metadata("file", name, "application/pdf")


@pytest.mark.parametrize(
    ("text", "cut", "expected"),
    [
        ("ae\u0301b", 2, 1),  # not between e and its accent
        ("a👩\u200d👧b", 3, 1),  # not inside a joined emoji
        ("a👍🏽b", 2, 1),  # not between an emoji and its skin tone
        ("🇫🇷🇩🇪", 3, 2),  # not inside a flag
        ("🇫🇷🇩🇪", 2, 2),  # between two flags is fine
        ("abc", 2, 2),
    ],
)
def test_boundary(text, cut, expected):
    assert boundary(text, cut) == expected
