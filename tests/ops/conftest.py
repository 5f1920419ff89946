"""Fixtures of the ops tests: the old versions' code, taken from git once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.ops.historic import make_old_install


@pytest.fixture(scope="session")
def trees(tmp_path_factory) -> Path:
    """Where tests/ops/historic.py extracts each old version's tipline/ package (once each)."""
    return tmp_path_factory.mktemp("old-versions")


@pytest.fixture(scope="session")
def template(tmp_path_factory, trees, keydir) -> Path:
    """The data folder of a 4fd8b02 install with a key, two journalists (ana, bo) and three tips.

    Made once for the session (its own code runs its CLI and source app); `data` copies it."""
    base = tmp_path_factory.mktemp("old-install")
    inst, _filled = make_old_install("4fd8b02", trees, base, keydir / "journalist.pub")
    return inst.data_dir


@pytest.fixture
def data(template, tmp_path) -> Path:
    shutil.copytree(template, tmp_path / "data", symlinks=True)
    return tmp_path / "data"
