"""Cut off clients that send a request body too slowly (slow-body attacks).

gunicorn's gthread workers give each request a thread and never time out a
body read: a client trickling a byte every second could hold a thread for
ever, and a handful of them would starve the tip line. This guard

- fails a read that waits longer than `idle_s` for any byte (a socket timeout);
- after `grace_s`, cuts off a body arriving slower than `min_rate` bytes per
  second on average. A watchdog thread checks every half second and shuts
  the socket's read side, because gunicorn's reader keeps waiting inside a
  single read call while bytes trickle in.

A real Tor upload (an hour for 500 MB is ~140 KB/s) is far above the floor.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

PIECE = 16 * 1024  # read in pieces so progress is counted while a body streams


class ClientTooSlow(Exception):
    """The request body stalled or crawled; the request is abandoned."""


class _GuardedInput:
    def __init__(self, raw: Any, sock: socket.socket | None, min_rate: int, grace_s: float) -> None:
        self._raw = raw
        self.sock = sock
        self.min_rate = min_rate
        self.grace = grace_s
        self.start = time.monotonic()
        self.got = 0
        self.cut = False

    def too_slow(self, now: float) -> bool:
        elapsed = now - self.start
        return elapsed > self.grace and self.got < self.min_rate * elapsed

    def _wrap(self, fn: Callable[..., bytes], size: int | None) -> bytes:
        if self.cut or self.too_slow(time.monotonic()):
            raise ClientTooSlow("request body arrives too slowly")
        n = PIECE if size is None or size < 0 else min(size, PIECE)
        try:
            data = fn(n)
        except TimeoutError:
            raise ClientTooSlow("request body stalled") from None
        except Exception:
            if self.cut:
                raise ClientTooSlow("request body arrives too slowly") from None
            raise
        if self.cut:
            raise ClientTooSlow("request body arrives too slowly")
        self.got += len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._wrap(self._raw.read, size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._wrap(self._raw.readline, size)

    def __iter__(self) -> Iterable[bytes]:
        while line := self.readline():
            yield line


class _Watchdog:
    """One thread per process that cuts off crawling bodies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: set[_GuardedInput] = set()
        self._thread: threading.Thread | None = None

    def add(self, g: _GuardedInput) -> None:
        with self._lock:
            self._active.add(g)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tipline-body-watchdog", daemon=True)
                self._thread.start()

    def remove(self, g: _GuardedInput) -> None:
        with self._lock:
            self._active.discard(g)

    def _run(self) -> None:
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            with self._lock:
                slow = [g for g in self._active if not g.cut and g.too_slow(now)]
            for g in slow:
                g.cut = True
                if g.sock is not None:
                    with contextlib.suppress(OSError):  # already closed by the client
                        g.sock.shutdown(socket.SHUT_RD)  # wakes the blocked read; the reply can still go out


_watchdog = _Watchdog()


class BodyDeadline:
    """WSGI middleware: apply the idle timeout and rate floor to every request body."""

    def __init__(self, app: Callable, idle_s: float, min_rate: int, grace_s: float) -> None:
        self.app = app
        self.idle_s = idle_s
        self.min_rate = min_rate
        self.grace_s = grace_s

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            sock.settimeout(self.idle_s)
        guarded = _GuardedInput(environ["wsgi.input"], sock, self.min_rate, self.grace_s)
        environ["wsgi.input"] = guarded
        _watchdog.add(guarded)
        try:
            return self.app(environ, start_response)
        finally:
            _watchdog.remove(guarded)
