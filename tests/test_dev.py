"""The README's commands set up the machine themselves: ./dev names what is missing, in one line.

Without root (or apt), `./dev demo` on a machine without Node.js must stop before pip, whose
30-line traceback would bury hatch_build.py's own message. As root with apt it installs the
packages instead; that path is what .ci/run takes on a fresh machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import unavailable
from tests.packages import AS_ROOT

REPO = Path(__file__).resolve().parent.parent


def bare_path(tmp_path: Path) -> str:
    """A PATH with Python and the shell's basic tools, and no node, npm or apt-get."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "id", "chmod", "rm", "sed", "grep", "cat"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    (bin_dir / "python3").symlink_to(sys.executable)
    return str(bin_dir)


def test_missing_packages_names_node_and_npm_when_they_are_not_on_path(tmp_path):
    script = 'source <(sed -n "/^missing_packages()/,/^}/p" dev); py=python3; missing_packages demo'
    out = subprocess.run(
        ["bash", "-c", script],
        cwd=REPO,
        env={"PATH": bare_path(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["nodejs", "npm"]


def test_demo_without_node_and_without_root_stops_in_one_line_before_pip():
    runuser = shutil.which("runuser")
    if os.getuid() != 0 or runuser is None:
        unavailable(f"running ./dev as an unprivileged user needs root and runuser: {AS_ROOT}")
    with tempfile.TemporaryDirectory(dir="/tmp") as top:  # pytest's tmp_path is root's alone
        os.chmod(top, 0o755)
        _demo_as_nobody(runuser, Path(top))


def _demo_as_nobody(runuser: str, tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(REPO / "dev", copy / "dev")
    shutil.copy(REPO / "dev-packages.txt", copy / "dev-packages.txt")
    os.chmod(copy, 0o755)
    path = bare_path(tmp_path)
    out = subprocess.run(
        [runuser, "-u", "nobody", "--", "env", f"PATH={path}", "bash", str(copy / "dev"), "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # This user's python3 may lack venv (or be unusable by it): then python3-venv is named too.
    venv = subprocess.run(
        [runuser, "-u", "nobody", "--", "env", f"PATH={path}", "python3", "-c", "import ensurepip, venv"],
        capture_output=True,
        check=False,
    )
    need = ("" if venv.returncode == 0 else " python3-venv") + " nodejs npm"
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"./dev demo needs these Debian packages first:{need}. Install them with: sudo apt-get install{need}"
    ]
    assert not (copy / ".venv").exists()  # stopped before making anything
