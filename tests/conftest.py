"""Shared fixtures: real keys (made once per session: Argon2id is slow by design)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.packages import AS_ROOT, install_command, named_packages, not_installed
from tests.schedule import heaviest_first
from tipline.format.keys import SecretKey

PASSPHRASE = "correct horse battery staple tipline"


def in_ci() -> bool:
    """CI=true, in any case (CI=True, CI=TRUE): the one test of it that every guard uses."""
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip with REASON on a laptop; fail under CI, which must never pass by skipping a test."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this test must run, not skip)", pytrace=False)
    pytest.skip(reason)


def missing(tool: str, how: str | None = None) -> NoReturn:
    """TOOL is not installed: skip (fail under CI), naming the one command that installs it."""
    unavailable(not_installed(tool, how))


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background by a shell without job control inherits Ctrl-C ignored,
    # and so would every program the tests start: those that test Ctrl-C would see it ignored.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    heaviest_first(items)


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outside pytest's own: after its SKIPPED lines
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    """After the skip lines: how many tests did not run, and the one command that installs it all.
    Before that, tests/system's phase times: here, as xdist's controller may not load its conftest."""
    yield
    from tests.system.phases import summary  # not at the top: tests.system.machine imports this module

    summary(terminalreporter)
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    packages: set[str] = set()
    as_root = 0
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        packages.update(named_packages(reason))
        as_root += AS_ROOT in reason
    steps = [install_command(packages)] if packages else []
    if as_root:
        steps.append("sudo ./dev test" if packages else AS_ROOT)
    todo = f" To run them: {', then '.join(steps)}" if steps else ""
    terminalreporter.write_line(
        f"{len(skipped)} tests did not run (the SKIPPED lines above say why).{todo}", yellow=True, bold=True
    )


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


def run_tipline(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real server-side `tipline` command in a subprocess, as an admin would."""
    return subprocess.run(
        [sys.executable, "-m", "tipline.cli", *args], capture_output=True, text=True, check=check, timeout=600
    )


def decrypt_with(keydir: Path, out: Path, *inputs: Path) -> subprocess.CompletedProcess:
    """`tipline-offline decrypt` with the keygen-made key of the `keydir` fixture."""
    return run_offline(
        "decrypt",
        *map(str, inputs),
        "--key",
        str(keydir / "journalist.key"),
        "--out",
        str(out),
        "--passphrase-file",
        str(keydir / "pass.txt"),
    )


def export_and_decrypt(data_dir: Path, keydir: Path, work: Path) -> Path:
    """The real `tipline export`, then the real `tipline-offline decrypt`: returns the output folder."""
    work.mkdir(parents=True, exist_ok=True)
    bundle = work / f"bundle-{len(list(work.glob('bundle-*.tar')))}.tar"
    run_tipline("export", "--data-dir", str(data_dir), "--out", str(bundle))
    out = work / "decrypted"
    r = decrypt_with(keydir, out, bundle)
    assert r.returncode == 0, r.stderr
    return out


def submission_id(folder: Path) -> str:
    """The submission id of a folder that decrypt wrote, in a conversation or not."""
    return folder.name.split("-source-", 1)[-1]


def submission_folders(out: Path) -> dict[str, Path]:
    """Every decrypted submission's folder, by submission id, wherever decrypt put it (docs/offline.md).

    out/<id>/ for a submission outside any conversation;
    out/conversation-<conversation id>/<YYYY-MM-DDTHHMMZ>-source-<id>/ for one in a conversation.
    """
    found = {}
    for d in out.iterdir() if out.is_dir() else ():
        if d.is_dir() and d.name.startswith("conversation-"):
            found |= {c.name.split("-source-", 1)[1]: c for c in d.iterdir() if "-source-" in c.name}
        elif d.is_dir():
            found[d.name] = d
    return found


@pytest.fixture
def small_disk(tmp_path):
    """The data folder on a 6 MB tmpfs (as root), so the disk really fills up."""
    data = tmp_path / "data"
    data.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(data)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        unavailable(f"mounting a small tmpfs needs root ({r.stderr.strip()}): {AS_ROOT}")
    yield data
    subprocess.run(["umount", "-l", str(data)], check=False)
