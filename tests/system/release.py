"""What the install document's placeholders stand for, made from the work tree under test.

docs/install.md names where Tipline comes from with placeholders: REPOSITORY_URL (a git
repository of the source), or TIPLINE_DEB_URL and TIPLINE_DEB_SHA256 (a release's .deb, built by
`./dev deb`). Only the placeholders the document uses are made; they are put inside the machine's
root, so the commands fetch them from the container's own file system (git and curl read file:).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.system.machine import CACHE, sh

SOURCE_IN = "/srv/tipline.git"  # the checkout under test, as a git repository in the container
DEB_IN = "/srv/release/tipline.deb"
DEB_CACHE = (
    CACHE / "deb"
)  # built packages by input hash: a work tree unchanged since the last run reuses its .deb
DEB_KEEP = 3  # entries kept, the most recently used
# What goes into the .deb: the wheel (pyproject.toml's packages and force-include, and what
# hatch_build.py reads), and what deploy/debian/build_deb.py adds. Keep in step with both.
DEB_INPUTS = (
    "tipline", "deploy", "docs/install.md", "pyproject.toml", "hatch_build.py", "package.json",
    "package-lock.json",
)  # fmt: skip


@dataclass
class Release:
    """What the placeholders need, built on the host once per run."""

    deb: Path | None = None
    depends: list[str] = field(default_factory=list)  # the .deb's Depends, for the local apt repository

    def place(self, doc_text: str, repo: Path, root: Path) -> dict[str, str]:
        """Put what DOC_TEXT needs into the machine's ROOT; the placeholders' values."""
        values = {}
        if "REPOSITORY_URL" in doc_text:
            snapshot_repo(repo, root / SOURCE_IN.lstrip("/"))
            values["REPOSITORY_URL"] = SOURCE_IN
        if self.deb is not None:
            target = root / DEB_IN.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.deb, target)
            values["TIPLINE_DEB_URL"] = f"file://{DEB_IN}"
            values["TIPLINE_DEB_SHA256"] = hashlib.sha256(self.deb.read_bytes()).hexdigest()
        return values


def make_release(doc_text: str, repo: Path, work: Path) -> Release:
    """Build the .deb if the document installs one (`./dev deb OUT`), and read what it depends on."""
    if "TIPLINE_DEB_URL" not in doc_text:
        return Release()
    deb = cached_deb(repo, work)
    fields = sh(["dpkg-deb", "--field", str(deb), "Depends", "Pre-Depends"]).stdout
    return Release(deb, deb_depends(fields))


def deb_inputs_key(repo: Path) -> str:
    """A hash of everything the .deb is made from: the files of DEB_INPUTS git would take from the
    work tree (committed or not), the Python that builds its wheels, and the architecture. (The
    dependencies are resolved from the index only on a miss.)"""
    files = sh(
        [
            "git",
            "-C",
            str(repo),
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            *DEB_INPUTS,
        ]
    )
    h = hashlib.sha256(f"{sys.version}\0{os.uname().machine}\0".encode())
    for rel in sorted(filter(None, files.stdout.split("\0"))):
        src = repo / rel
        h.update(rel.encode() + b"\0")
        if src.is_symlink():
            h.update(b"link:" + os.readlink(src).encode())
        elif src.is_file():
            h.update(hashlib.sha256(src.read_bytes()).digest())
    return h.hexdigest()[:24]


def cached_deb(repo: Path, work: Path) -> Path:
    """`./dev deb` of REPO, or the .deb an earlier run built from the very same inputs."""
    entry = DEB_CACHE / deb_inputs_key(repo)
    found = sorted(entry.glob("*.deb")) if entry.is_dir() else []
    if found:
        os.utime(entry)
        return found[0]
    # `./dev deb OUT` is this script run by the venv's Python, which runs these tests too.
    out = sh(
        [sys.executable, str(repo / "deploy/debian/build_deb.py"), str(work)], timeout=1200, cwd=repo
    ).stdout
    deb = Path(next(line for line in out.splitlines() if line.endswith(".deb")))
    if not CACHE.is_dir():
        return deb
    DEB_CACHE.mkdir(exist_ok=True)
    part = Path(tempfile.mkdtemp(dir=DEB_CACHE, prefix=".partial-"))
    shutil.copy(deb, part / deb.name)
    try:
        part.rename(entry)  # atomic: a concurrent run that built the same inputs may have won
    except OSError:
        shutil.rmtree(part)
    for old in sorted(DEB_CACHE.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)[DEB_KEEP:]:
        if not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return deb


def deb_depends(fields: str) -> list[str]:
    """Package names of a Depends line: the first of each set of alternatives, without versions."""
    names = []
    for line in fields.splitlines():
        value = line.split(":", 1)[1] if ":" in line else line
        for dep in value.split(","):
            first = dep.split("|")[0].strip()
            name = re.split(r"[\s(:]", first, maxsplit=1)[0]
            if name:
                names.append(name)
    return sorted(set(names))


def snapshot_repo(repo: Path, dest: Path) -> None:
    """A git repository whose one commit is the work tree under test (committed or not), for `git clone`."""
    files = sh(
        ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    ).stdout
    work = dest.with_name(dest.name + ".work")
    for rel in filter(None, files.split("\0")):
        src = repo / rel
        if src.is_file() and not src.is_symlink():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, work / rel)
    ident = ["-c", "user.name=tipline tests", "-c", "user.email=tests@localhost"]
    sh(["git", "-C", str(work), "init", "-q"])
    sh(["git", "-C", str(work), "add", "-A"])
    sh(["git", "-C", str(work), *ident, "commit", "-q", "-m", "the work tree under test"])
    sh(["git", "clone", "-q", "--bare", str(work), str(dest)])
    shutil.rmtree(work)
