"""What every doctor check returns: a finding, a problem (exit 1) or a warning (printed only)."""

from __future__ import annotations

from dataclasses import dataclass

PROBLEM, WARNING = "problem", "warning"


@dataclass(frozen=True)
class Finding:
    level: str
    text: str

    def __str__(self) -> str:
        return f"{self.level}: {self.text}"


def problem(text: str) -> Finding:
    return Finding(PROBLEM, text)


def warning(text: str) -> Finding:
    return Finding(WARNING, text)
