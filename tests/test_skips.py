"""On a laptop without a tool, each skip names the command that installs it, and so does the summary.

A real pytest run in a subprocess, with CI unset and a PATH that hides chromium, firefox-esr and
tor: the browser and torrc tests skip, each saying `sudo apt-get install <package>`, and the last lines
say how many did not run and the one apt-get line for them all. The packages come from
dev-packages.txt, which ./dev installs from too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.packages import LIST, package_of

REPO = Path(__file__).resolve().parent.parent
HIDDEN = ("chromium", "firefox-esr", "tor", "tor-gencert")


def path_without(tmp_path: Path, hidden: tuple[str, ...]) -> str:
    """A PATH of one folder that links every command on this PATH except HIDDEN."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        for tool in Path(folder).iterdir() if Path(folder).is_dir() else ():
            link = bin_dir / tool.name
            if tool.name not in hidden and not link.exists() and not link.is_symlink():
                link.symlink_to(tool)
    return str(bin_dir)


def test_skips_and_summary_name_the_install_command(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TIPLINE_CHROMIUM", "TIPLINE_FIREFOX")}
    env["PATH"] = path_without(tmp_path, HIDDEN)
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-n", "2",
         "tests/browser/test_source_page.py", "tests/browser/test_firefox_source.py",
         "tests/deploy/test_torrc.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    skips = [line for line in r.stdout.splitlines() if line.startswith("SKIPPED")]
    browser = [s for s in skips if "test_source_page.py" in s]
    firefox = [s for s in skips if "test_firefox_source.py" in s]
    torrc = [s for s in skips if "test_torrc.py" in s]
    assert browser and firefox and torrc, r.stdout
    assert all(s.endswith("chromium is not installed: sudo apt-get install chromium") for s in browser), skips
    no_firefox = "firefox-esr is not installed: sudo apt-get install firefox-esr"
    assert all(s.endswith(no_firefox) for s in firefox), skips
    assert all(s.endswith("tor is not installed: sudo apt-get install tor") for s in torrc), skips
    not_run = int(re.search(r"(\d+) skipped", r.stdout.splitlines()[-1]).group(1))
    summary = f"{not_run} tests did not run (the SKIPPED lines above say why). To run them: "
    install = "sudo apt-get install chromium firefox-esr tor"
    assert summary + install in r.stdout.splitlines(), r.stdout[-2000:]


def test_dev_installs_the_packages_the_skips_name(tmp_path):
    """./dev's list is the tests' list: every package in dev-packages.txt, and nothing else."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "sed"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    script = 'source <(sed -n "/^missing_packages()/,/^}/p" dev); py=python3; missing_packages test'
    out = subprocess.run(
        ["bash", "-c", script], cwd=REPO, env={"PATH": str(bin_dir)}, capture_output=True, text=True
    )  # with only bash and sed on PATH, only the file checks (libatomic1, initdb) may find theirs
    rows = [line.split() for line in LIST.read_text().splitlines() if line and not line.startswith("#")]
    listed = {package for _, package, _ in rows}
    file_checked = {package for what, package, _ in rows if what.startswith("/")}
    assert listed - file_checked <= set(out.stdout.split()) <= listed, out.stdout + out.stderr
    assert {package_of(t) for t in ("chromium", "firefox-esr", "tor", "initdb", "systemd-nspawn")} <= listed
