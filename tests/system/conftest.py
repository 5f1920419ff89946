"""tests/system fixtures: the image (cached), one machine per module with Tipline installed as
docs/install.md says, and the time each phase took (printed at the end of the run)."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.system.install_doc import apt_packages, commands
from tests.system.machine import CACHE, Image, build_image, require_tools
from tests.system.release import Release, make_release

REPO = Path(__file__).resolve().parents[2]
INSTALL_DOC = REPO / "docs" / "install.md"
PHASES: dict[str, float] = {}


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time a phase of the module (root build, boot, install, reboot) for the closing summary."""
    t = time.monotonic()
    try:
        yield
    finally:
        PHASES[name] = PHASES.get(name, 0.0) + time.monotonic() - t


def pip_requirements() -> list[str]:
    """What `pip install '.[server]'` needs from an index: the build backend and the dependencies."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    return [
        *meta["build-system"]["requires"],
        *meta["project"]["dependencies"],
        *meta["project"]["optional-dependencies"]["server"],
    ]


@pytest.fixture(scope="session")
def release(tmp_path_factory) -> Release:
    """Tipline as the document gets it (a .deb built from the work tree, or its source)."""
    require_tools()
    with phase("release build"):
        return make_release(INSTALL_DOC.read_text("utf-8"), REPO, tmp_path_factory.mktemp("release"))


@pytest.fixture(scope="session")
def image(release) -> Image:
    """The root, and the packages the document's apt lines and the .deb's Depends name, offline."""
    packages = sorted({*apt_packages(commands(INSTALL_DOC)), *release.depends})
    # pip and npm only for a document that builds from source (the .deb carries its wheels).
    source = "REPOSITORY_URL" in INSTALL_DOC.read_text("utf-8")
    with phase("root build (cached after the first)"):
        return build_image(
            CACHE, packages, pip=pip_requirements() if source else [], npm_lock_dir=REPO if source else None
        )


PHASES_KEY = "tests/system phases"
PHASES_FILE = CACHE / "last-phases.txt"  # the table of the last run, for a CI log or a closing note


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Carry the phases so far on every report: under xdist the summary is written by the controller,
    which sees the workers' reports but not their PHASES."""
    report = yield
    if PHASES:
        kept = [p for p in report.user_properties if p[0] != PHASES_KEY]
        report.user_properties = [*kept, (PHASES_KEY, dict(PHASES))]
    return report


def reported_phases(terminalreporter) -> dict[str, float]:
    """The fullest phase table any report carried (phases only accumulate, so the latest one)."""
    best: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for r in reports:
            for key, value in getattr(r, "user_properties", ()):
                if key == PHASES_KEY and sum(value.values()) >= sum(best.values()):
                    best = value
    return best


def pytest_terminal_summary(terminalreporter) -> None:
    phases = reported_phases(terminalreporter)
    if phases:
        lines = [f"{name}: {seconds:.0f} s" for name, seconds in phases.items()]
        terminalreporter.write_sep("-", PHASES_KEY)
        for line in lines:
            terminalreporter.write_line(line)
        if CACHE.is_dir():
            PHASES_FILE.write_text("\n".join(lines) + "\n")
            terminalreporter.write_line(f"(also in {PHASES_FILE})")
