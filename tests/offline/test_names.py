"""safe_name, one protection at a time: removing any one of them fails a test here.

Each case is checked on its own (issue 9, finding 12: mutants that let the
right-to-left override or a Windows device name through survived the suite).
"""

from __future__ import annotations

import unicodedata

import pytest

from tipline.offline.names import MAX_NAME_BYTES, safe_name, with_counter

# Every Unicode bidirectional control: each can make "exe.pdf" display as "fdp.exe".
BIDI_CONTROLS = {
    "\u061c": "ARABIC LETTER MARK",
    "\u200e": "LEFT-TO-RIGHT MARK",
    "\u200f": "RIGHT-TO-LEFT MARK",
    "\u202a": "LEFT-TO-RIGHT EMBEDDING",
    "\u202b": "RIGHT-TO-LEFT EMBEDDING",
    "\u202c": "POP DIRECTIONAL FORMATTING",
    "\u202d": "LEFT-TO-RIGHT OVERRIDE",
    "\u202e": "RIGHT-TO-LEFT OVERRIDE",
    "\u2066": "LEFT-TO-RIGHT ISOLATE",
    "\u2067": "RIGHT-TO-LEFT ISOLATE",
    "\u2068": "FIRST STRONG ISOLATE",
    "\u2069": "POP DIRECTIONAL ISOLATE",
}

DEVICES = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
DEVICES += [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)]
DEVICES += ["COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³"]
DEVICE_STEMS = {unicodedata.normalize("NFKC", d).upper() for d in DEVICES} | {"COM0", "LPT0"}


def test_the_table_names_the_right_characters():
    for ch, name in BIDI_CONTROLS.items():
        assert unicodedata.name(ch) == name


@pytest.mark.parametrize("ch", list(BIDI_CONTROLS), ids=list(BIDI_CONTROLS.values()))
def test_bidi_control_never_passes(ch):
    out = safe_name(f"invoice{ch}fdp.exe")
    assert ch not in out
    assert out.endswith(".exe")  # what it is, shown as what it is
    assert safe_name(f"{ch}{ch}") == "attachment"
    assert ch not in safe_name(f"a{ch}b{ch}c.pdf")


def _variants(device: str) -> list[str]:
    return [
        device,
        device.lower(),
        device.capitalize(),
        f"{device}.txt",
        f"{device.lower()}.tar.gz",
        f"{device} .txt",  # Windows ignores spaces before the extension
        f"{device}  ",
        f"  {device}",
        f"{device}.",
        f"{device}...pdf",
    ]


def _stem(name: str) -> str:
    return name.split(".")[0].rstrip(" ").upper()


@pytest.mark.parametrize("device", DEVICES)
def test_windows_device_name_never_passes(device):
    for name in _variants(device):
        out = safe_name(name)
        assert _stem(out) not in DEVICE_STEMS, (name, out)


@pytest.mark.parametrize("name", ["CONSOLE.txt", "auxiliary", "COM10", "LPT", "nul_file", "Concert.pdf"])
def test_names_that_only_start_like_a_device_are_kept(name):
    assert safe_name(name) == name


def test_a_long_name_keeps_its_extension_and_fits():
    out = safe_name("é" * 500 + ".docx")
    assert out.endswith(".docx") and len(out.encode()) <= MAX_NAME_BYTES


def test_with_counter():
    assert with_counter("memo.pdf", 2) == "memo (2).pdf"
    assert with_counter("README", 3) == "README (3)"
