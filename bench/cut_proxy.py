"""A TCP proxy on loopback that can drop the connection once so many bytes went upstream.

bench/upload.py puts it between Chromium and gunicorn: in pass mode it only
relays (so that every loopback variant pays the same relay), and once armed
with `cut_after(n)` it resets both sides of the connection that carries the
n-th byte from the browser, as a dropped Wi-Fi or a dead NAT entry would.
Later connections pass untouched. Bytes move with splice(2) through a pipe,
so the relay costs next to no CPU on a machine the browser and server share.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading

PIECE = 1 << 20


class CutProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._cut_at: int | None = None  # upstream bytes (all connections) after which to cut
        self.upstream = 0  # bytes from the browser, every connection together
        self.cuts = 0
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, n: int) -> None:
        """Drop the connection that carries the N-th byte from now on (once), then pass again."""
        with self._lock:
            self._cut_at = self.upstream + n

    def close(self) -> None:
        self._stop = True
        self._listener.close()

    # -- relaying

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            pair = (client, server)
            threading.Thread(target=self._relay, args=(client, server, True, pair), daemon=True).start()
            threading.Thread(target=self._relay, args=(server, client, False, pair), daemon=True).start()

    def _relay(self, src: socket.socket, dst: socket.socket, up: bool, pair: tuple) -> None:
        r, w = os.pipe()
        try:
            while True:
                n = os.splice(src.fileno(), w, PIECE)
                if n == 0:
                    break
                if up and self._count(n):
                    _reset(*pair)
                    return
                left = n
                while left:
                    left -= os.splice(r, dst.fileno(), left)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
        except OSError:
            _reset(*pair)
        finally:
            os.close(r)
            os.close(w)

    def _count(self, n: int) -> bool:
        """Count N upstream bytes; True if this connection is to be cut now."""
        with self._lock:
            self.upstream += n
            if self._cut_at is not None and self.upstream >= self._cut_at:
                self._cut_at = None
                self.cuts += 1
                return True
            return False


def _reset(*socks: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): both ends see the connection fail, not end.

    SHUT_RD first wakes the other direction's thread out of splice (it sends nothing), so
    the last reference goes and the kernel resets the connection at once."""
    for s in socks:
        with contextlib.suppress(OSError):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RD)
    for s in socks:
        with contextlib.suppress(OSError):
            s.close()
