"""The decrypt run's progress bar: one line on stderr, only when it is a terminal and the input is large."""

from __future__ import annotations

import sys


class Progress:
    """A one-line progress bar on stderr, only when it is a terminal."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.shown = max(total, 1), 0, -1
        self.on = sys.stderr.isatty() and total >= 8 * 1024 * 1024

    def __call__(self, n: int) -> None:
        self.done += n
        pct = min(100, self.done * 100 // self.total)
        if self.on and pct != self.shown:
            self.shown = pct
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\r[{bar:<25}] {pct:3d}%  {self.done >> 20} / {self.total >> 20} MiB")
            sys.stderr.flush()

    def end(self) -> None:
        if self.on:
            sys.stderr.write("\n")
