"""Shared fixtures: real keys (made once per session: Argon2id is slow by design)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tipline.format.keys import SecretKey

PASSPHRASE = "correct horse battery staple tipline"


@pytest.fixture(scope="session")
def alice() -> SecretKey:
    return SecretKey.generate()


@pytest.fixture(scope="session")
def bob() -> SecretKey:
    return SecretKey.generate()


@pytest.fixture(scope="session")
def keydir(tmp_path_factory) -> Path:
    """A key pair made by the real `tipline-offline keygen`, and its passphrase file."""
    d = tmp_path_factory.mktemp("keys")
    (d / "pass.txt").write_text(PASSPHRASE + "\n")
    run_offline("keygen", "--out", str(d), "--passphrase-file", str(d / "pass.txt"), check=True)
    return d


def run_offline(*args: str, check: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real offline tool in a subprocess, as a journalist would."""
    return subprocess.run(
        [sys.executable, "-m", "tipline.offline", *args],
        capture_output=True,
        text=True,
        check=check,
        env=env,
        timeout=600,
    )
