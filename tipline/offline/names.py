"""Turn an untrusted file name from inside an envelope into a safe one.

The name comes from the source's machine, or from an attacker who controls
the server. Whatever it holds, the result is a single plain path component
that cannot leave the output folder, hide its extension or name a device.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_BYTES = 200
FALLBACK = "attachment"

# Characters that some system treats as a path separator or forbids in
# names, after NFKC has already folded full-width forms to ASCII.
_UNSAFE = re.compile(r'[/\\:*?"<>|\u2215\u2044\u29f8\u29f9\u2216\ufe68\u2fbb]')
_WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)$", re.IGNORECASE)


def _is_unsafe_char(ch: str) -> bool:
    # Cc: control characters (NUL, newline, escape); Cf: format characters,
    # including the right-to-left override that disguises "exe.pdf" names;
    # Zl/Zp: line and paragraph separators.
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


def _truncate(name: str, limit: int) -> str:
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode("utf-8")) > 16:
        stem, ext = name, ""
    else:
        ext = "." + ext
    budget = limit - len(ext.encode("utf-8"))
    return stem.encode("utf-8")[:budget].decode("utf-8", "ignore") + ext


def safe_name(original: str, fallback: str = FALLBACK) -> str:
    """Return a safe, non-empty single path component for `original`."""
    name = unicodedata.normalize("NFKC", original)
    name = "".join("_" if _is_unsafe_char(ch) else ch for ch in name)
    name = _UNSAFE.sub("_", name)
    name = " ".join(name.split())  # collapse runs of white space of any kind
    # Leading dots would hide the file or mean "..", and leading dashes read
    # as options to command-line tools; Windows drops trailing dots/spaces.
    name = name.lstrip(". -").rstrip(". ")
    if not name or set(name) <= {"_"}:
        name = fallback
    # Windows ignores spaces before the extension: "CON .txt" is the console too.
    if _WINDOWS_DEVICES.match(name.split(".")[0].rstrip(" ")):
        name = "_" + name
    return _truncate(name, MAX_NAME_BYTES)


def with_counter(name: str, n: int) -> str:
    """'report.pdf', 2 -> 'report (2).pdf': a new name that never overwrites."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name} ({n})"
    return f"{stem} ({n}).{ext}"
