"""An install made and filled by an older Tipline: its code from git, run from its own tree.

`git archive COMMIT tipline` gives that version's package; its `tipline` command
and its source app run with PYTHONPATH pointing there (and from a folder outside
this checkout, so the current code does not come first on sys.path), in this
virtual environment. The browser crypto (sodium.js) is a build product that
git does not hold: the current build is copied in, as an install would have
built its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pyotp

from tests.conftest import missing, unavailable
from tests.web.logins import PASSPHRASE
from tests.web.server import Server, first_tip_headers, free_port

REPO = Path(__file__).resolve().parents[2]
# Every commit of main that changed a schema, oldest first (tipline/store/schema.py HISTORY):
# before migrations; accounts apart (b4d422f); conversations (faab7c7); activity log; status.
SCHEMA_COMMITS = ("4fd8b02", "b4d422f", "faab7c7", "295c100", "d6ad903")
# What `tipline upgrade` says it found, for each (the revision the tables were recognised as).
RECOGNISED = {
    "4fd8b02": ("sub01_initial", None),
    "b4d422f": ("sub02_accounts_out", "acc01_initial"),
    "faab7c7": ("sub03_conversations", "acc01_initial"),
    "295c100": ("sub03_conversations", "acc02_activity"),
    "d6ad903": ("sub04_status", "acc02_activity"),
}


def extract(commit: str, dest: Path) -> Path:
    """That commit's tipline/ package under DEST/COMMIT, with the current sodium.js build."""
    if shutil.which("git") is None:
        missing("git")
    known = subprocess.run(
        ["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True
    )
    if known.returncode != 0:
        unavailable(f"commit {commit} is not in this clone's history: git fetch --unshallow")
    tree = dest / commit
    tree.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "tipline"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    js = REPO / "tipline" / "web" / "static" / "js"
    for name in ("sodium.js", "sodium-sumo.js"):
        if (js / name).exists():
            shutil.copy(js / name, tree / "tipline" / "web" / "static" / "js" / name)
    return tree


@dataclass
class Filled:
    """What went into an old install, to find again after the upgrade."""

    tips: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # message -> (file name, bytes)
    journalists: dict[str, pyotp.TOTP] = field(default_factory=dict)


@dataclass
class OldInstall:
    commit: str
    tree: Path
    data_dir: Path
    work: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
        return dict(env, PYTHONPATH=str(self.tree))

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """That version's `tipline` command, as its admin ran it."""
        return subprocess.run(
            [sys.executable, "-m", "tipline.cli", *args],
            capture_output=True,
            text=True,
            check=True,
            env=self.env(),
            cwd=self.work,
            timeout=600,
        )

    def server(self, name: str) -> Server:
        tmp = self.work / f"{name}-tmp"
        tmp.mkdir(exist_ok=True)
        return Server(
            self.data_dir, tmp, self.work / f"{name}.log", free_port(), env=self.env(), cwd=self.work
        )

    def fill(self, pubkey: Path) -> Filled:
        """A key and two journalists through its CLI, three tips with files through its source app."""
        filled = Filled()
        d = str(self.data_dir)
        self.cli("keys", "add", "--data-dir", d, str(pubkey))
        pw = self.work / "journalist.pw"
        pw.write_text(PASSPHRASE + "\n")
        for name in ("ana", "bo"):
            out = self.cli("journalist", "add", name, "--data-dir", d, "--passphrase-file", str(pw)).stdout
            uri = next(line for line in out.splitlines() if line.startswith("otpauth://"))
            filled.journalists[name] = pyotp.parse_uri(uri)
        srv = self.server("source").start()
        try:
            for i in range(3):
                message = f"tip {i} to {self.commit}, kept across the upgrade ✓"
                attached = (f"doc{i}.txt", os.urandom(1500 + i))
                # The last one as a browser sends a first tip (a conversation, where the version has them).
                headers = first_tip_headers() if i == 2 else None
                r = srv.post_form(
                    [("csrf_token", srv.csrf_token()), ("message", message)],
                    [("files", attached[0], attached[1], "application/octet-stream")],
                    headers=headers,
                )
                # Accepted: the codename page, or (before conversations) a redirect to "thank you".
                accepted = r.status == 200 or (r.status == 303 and "/thanks" in (r.header("Location") or ""))
                assert accepted, (self.commit, r.status, r.body[:300])
                filled.tips[message] = attached
        finally:
            srv.stop()
        return filled


def make_old_install(commit: str, trees: Path, base: Path, pubkey: Path, toml: str = "") -> tuple:
    """An install of COMMIT in BASE, its settings TOML, filled: (install, what it holds)."""
    tree = trees / commit if (trees / commit).exists() else extract(commit, trees)
    work = base / "work"
    work.mkdir(parents=True)
    inst = OldInstall(commit, tree, base / "data", work)
    inst.data_dir.mkdir(mode=0o700)
    if toml:
        (inst.data_dir / "tipline.toml").write_text(toml)
    return inst, inst.fill(pubkey)
