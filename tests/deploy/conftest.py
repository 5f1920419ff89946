"""The deployment tests' shared fixture: systemd-analyze, for the unit tests (tests/deploy/units.py)."""

from __future__ import annotations

import pytest

from .common import need_tool


@pytest.fixture
def analyze() -> str:
    return need_tool("systemd-analyze")
