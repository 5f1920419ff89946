"""A kernel event descriptor (inotify, fanotify) read by a thread of its own while a test runs.

tests/web/diskwatch.py and tests/web/closedfiles.py differ in what they ask the
kernel and how they parse its events, not in how the events are read: that
part lives here once.
"""

from __future__ import annotations

import os
import select
import threading


class EventReader:
    """Subclasses open a non-blocking `_fd`, call `_start_reading()`, and parse in `_events(buf)`."""

    _fd: int

    def _start_reading(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _stop_reading(self) -> None:
        """Stop the thread, read what arrived after its last wake-up, and close the descriptor."""
        self._stop.set()
        self._thread.join()
        self._drain()
        os.close(self._fd)

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.05)
            if ready:
                self._drain()

    def _drain(self) -> None:
        while True:
            try:
                buf = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return
            self._events(buf)

    def _events(self, buf: bytes) -> None:
        raise NotImplementedError
