"""tests/system fixtures: the image (cached), one machine per module with Tipline installed as
docs/install.md says, and the time each phase took (printed at the end of the run)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.system.install_doc import apt_packages, commands
from tests.system.machine import CACHE, Image, build_image, require_tools
from tests.system.phases import phase, record
from tests.system.release import Release, make_release

REPO = Path(__file__).resolve().parents[2]
INSTALL_DOC = REPO / "docs" / "install.md"


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Every report carries the phases so far, for the summary (tests/system/phases.py)."""
    report = yield
    record(report)
    return report
