"""The time each phase of tests/system took (root build, boot, install, reboot), shown at the end.

Under xdist the tests run in a worker and the summary is written by the controller, which sees
the workers' reports but neither their PHASES nor, in a whole-suite run, tests/system's conftest.
So the phases so far ride on every report (record()), the worker writes them to PHASES_FILE as
they grow, and tests/conftest.py's summary prints them (summary()).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.system.machine import CACHE

PHASES: dict[str, float] = {}
PHASES_KEY = "tests/system phases"
PHASES_FILE = CACHE / "last-phases.txt"  # the table of the last run, for a CI log or a closing note


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time a phase of the module for the closing summary."""
    t = time.monotonic()
    try:
        yield
    finally:
        PHASES[name] = PHASES.get(name, 0.0) + time.monotonic() - t


def table(phases: dict[str, float]) -> list[str]:
    return [f"{name}: {seconds:.0f} s" for name, seconds in phases.items()]


def record(report) -> None:
    """Put the phases so far on REPORT (a worker's TestReport), and into PHASES_FILE."""
    if not PHASES:
        return
    kept = [p for p in report.user_properties if p[0] != PHASES_KEY]
    report.user_properties = [*kept, (PHASES_KEY, dict(PHASES))]
    if CACHE.is_dir():
        PHASES_FILE.write_text("\n".join(table(PHASES)) + "\n")


def summary(terminalreporter) -> None:
    """The fullest phase table any report carried (phases only accumulate, so the latest one)."""
    best: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for r in reports:
            for key, value in getattr(r, "user_properties", ()):
                if key == PHASES_KEY and sum(value.values()) >= sum(best.values()):
                    best = value
    if best:
        terminalreporter.write_sep("-", PHASES_KEY)
        for line in table(best):
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"(also in {PHASES_FILE})")
