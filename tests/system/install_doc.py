"""The install commands, read from docs/install.md itself, so the test and the document cannot drift.

The commands are the first ```sh block under "## The commands": every line that is not a comment
or blank is one command (a line ending in a backslash goes on), however many there are.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

HEADING = "## The commands"


class DocError(AssertionError):
    """The document no longer has the shape this reader expects: say what is missing."""


def commands(doc: Path, placeholders: dict[str, str] | None = None) -> list[str]:
    """Each command of the block, with only the documented PLACEHOLDERS replaced."""
    text = doc.read_text("utf-8")
    start = text.find(f"\n{HEADING}\n")
    if start < 0:
        raise DocError(f"{doc} has no '{HEADING}' section")
    block = re.search(r"^```sh\n(.*?)^```$", text[start:], re.M | re.S)
    if block is None:
        raise DocError(f"'{HEADING}' in {doc} has no ```sh block")
    out, pending = [], ""
    for line in block.group(1).splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if not out:
        raise DocError(f"'{HEADING}' in {doc} holds no command")
    for name, value in (placeholders or {}).items():
        if not any(name in c for c in out):
            raise DocError(f"no command in {doc} uses the placeholder {name}")
        out = [c.replace(name, value) for c in out]
    return out


def apt_packages(cmds: list[str]) -> list[str]:
    """The packages that the commands' `apt-get install` (or `apt install`) lines name."""
    found: list[str] = []
    for c in cmds:
        for part in re.split(r"&&|;|\|\|", c):
            words = shlex.split(part, comments=True)
            if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
                rest = words[words.index("install") + 1 :]
                found += [w for w in rest if not w.startswith("-") and not w.startswith(("./", "/"))]
    return sorted(set(found))
