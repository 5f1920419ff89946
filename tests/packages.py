"""What a skipped test tells you to install: the Debian package of each tool, from dev-packages.txt.

./dev reads the same file to install what `./dev test` needs (as root), so a skip's command and
./dev's package list cannot drift apart. The summary at the end of a run (tests/conftest.py)
gathers the packages the skips named into one command.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

LIST = Path(__file__).resolve().parents[1] / "dev-packages.txt"
INSTALL = "sudo apt-get install"
AS_ROOT = "run the tests as root: sudo ./dev test"  # root's ./dev test also installs every package
_NAMED = re.compile(re.escape(INSTALL) + r"((?: [a-z0-9][a-z0-9.+-]+)+)")


def _lines() -> list[tuple[str, str]]:
    """(what shows it is there, package) for each line of dev-packages.txt."""
    rows = []
    for line in LIST.read_text().splitlines():
        words = line.split()
        if words and not words[0].startswith("#"):
            rows.append((words[0], words[1]))
    return rows


def package_of(tool: str) -> str | None:
    """The Debian package that gives TOOL (a command, a file's name like initdb, or a package)."""
    for what, package in _lines():
        if tool in (what, package, what.rsplit("/", 1)[-1]):
            return package
    return None


def install_command(packages: Iterable[str]) -> str:
    """One apt-get line for PACKAGES, each once, in a stable order."""
    return f"{INSTALL} {' '.join(sorted(set(packages)))}"


def not_installed(tool: str, how: str | None = None) -> str:
    """The reason a test skips when TOOL is missing, naming the command that installs it."""
    package = package_of(tool)
    if package is None:
        return f"{tool} is not installed ({how or 'no Debian package known for it'})"
    return f"{tool} is not installed: {install_command([package])}"


def named_packages(reason: str) -> list[str]:
    """The packages a skip reason (made by not_installed) names; [] if it names none."""
    m = _NAMED.search(reason)
    return m.group(1).split() if m else []
