"""Fixtures of the ops tests: the old versions' code, taken from git once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def trees(tmp_path_factory) -> Path:
    """Where tests/ops/historic.py extracts each old version's tipline/ package (once each)."""
    return tmp_path_factory.mktemp("old-versions")
