"""The CI guards: one helper decides, case-insensitively, and .ci/run sets CI=true itself.

Under CI=true a test that cannot run must fail, never skip (a skipped check
would let CI pass without it). These tests run a tiny pytest session in a
subprocess, the way CI runs the real one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HELPER = REPO / "tests" / "conftest.py"
PROBE = """
from tests.deploy.common import need_tool

def test_needs_a_missing_tool():
    need_tool("tipline-no-such-tool", "nothing installs it")
"""


def run_probe(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(REPO), str(probe)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("ci", ["true", "True", "TRUE"])
def test_missing_tool_fails_under_ci_in_any_case(tmp_path, ci):
    r = run_probe(tmp_path, ci)
    assert r.returncode == 1 and "1 failed" in r.stdout, r.stdout
    assert "this test must run, not skip" in r.stdout, r.stdout


@pytest.mark.parametrize("ci", [None, "false", ""])
def test_missing_tool_skips_on_a_laptop(tmp_path, ci):
    r = run_probe(tmp_path, ci)
    assert r.returncode == 0 and "1 skipped" in r.stdout, r.stdout


def test_every_guard_uses_the_one_helper():
    """No test reads CI itself: each goes through tests/conftest.py (in_ci / unavailable)."""
    readers = []
    for path in REPO.joinpath("tests").rglob("*.py"):
        if path in (HELPER, Path(__file__).resolve()):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"""environ(\.get)?\s*[\[(]\s*["']CI["']|getenv\(\s*["']CI["']""", line):
                readers.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert readers == []
    skips = []
    for path in REPO.joinpath("tests").rglob("*.py"):
        if path in (HELPER, Path(__file__).resolve()):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "pytest.skip(" in line:
                skips.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert skips == [], "skip through tests.conftest.unavailable, which fails under CI"


def test_ci_run_sets_ci_true_before_the_tests():
    script = (REPO / ".ci" / "run").read_text().splitlines()
    code = [ln.strip() for ln in script if ln.strip() and not ln.lstrip().startswith("#")]
    assert "export CI=true" in code
    assert code.index("export CI=true") < code.index("./dev test")
