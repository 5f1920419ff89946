"""The key of the .deb cache (tests/system/release.py): what goes into the package changes it, the
rest of the work tree does not, so an edit to a test reuses the package and an edit to the app never."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.system.release import deb_inputs_key


def test_key_follows_exactly_the_packaged_files(tmp_path: Path):
    for rel in (
        "tipline/app.py",
        "deploy/debian/control.in",
        "docs/install.md",
        "docs/other.md",
        "tests/t.py",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("one\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)
    first = deb_inputs_key(tmp_path)

    for unpackaged in ("docs/other.md", "tests/t.py", "tests/new.py"):
        (tmp_path / unpackaged).write_text("two\n")
    assert deb_inputs_key(tmp_path) == first

    keys = {first}
    for packaged in ("tipline/app.py", "deploy/debian/control.in", "docs/install.md", "tipline/new.py"):
        (tmp_path / packaged).write_text("two\n")  # committed or not, tracked or new
        keys.add(deb_inputs_key(tmp_path))
    assert len(keys) == 5
