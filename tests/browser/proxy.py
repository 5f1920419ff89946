"""A TCP proxy on loopback between Chromium and gunicorn that can drop or hold the upload.

Each accepted connection is forwarded to the server by two threads, one per direction, and
every byte sent towards the server is counted. cut_after(n): once n bytes went up, every
connection is closed, both sides, and the proxy stays down (it accepts and closes at once)
until up(): a browser's silent resend of a request on a new connection fails too, so the page
itself sees the connection lost. hold_after(n): the connection that carries byte n stops
forwarding towards the server, as a Tor circuit that stalls; release() then closes it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class Proxy:
    target: int  # the server's port on 127.0.0.1
    sent_up: int = 0  # bytes forwarded towards the server
    cut_at: int | None = None
    hold_at: int | None = None
    down: bool = False
    cut: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pairs: list[tuple[socket.socket, socket.socket]] = field(default_factory=list)

    def start(self) -> Proxy:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_after(self, n: int) -> None:
        with self._lock:
            self.cut_at = self.sent_up + n
            self.cut.clear()

    def up(self) -> None:
        self.down = False

    def hold_after(self, n: int) -> None:
        with self._lock:
            self.hold_at = self.sent_up + n
            self.held.clear()
            self._released.clear()

    def release(self) -> None:
        self._released.set()

    def stop(self) -> None:
        self._released.set()
        self._listener.close()
        self._close_all()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # stopped
            if self.down:
                client.close()
                continue
            server = socket.create_connection(("127.0.0.1", self.target))
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _close_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            self._close(pair)

    @staticmethod
    def _close(pair: tuple[socket.socket, socket.socket]) -> None:
        for s in pair:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        pair = (src, dst) if up else (dst, src)
        try:
            while data := src.recv(65536):
                action = None
                if up:
                    with self._lock:
                        for name, at in (("cut", self.cut_at), ("hold", self.hold_at)):
                            if at is not None and self.sent_up + len(data) >= at:
                                action = name
                                data = data[: at - self.sent_up]
                                if name == "cut":
                                    self.cut_at, self.down = None, True
                                else:
                                    self.hold_at = None
                                break
                        self.sent_up += len(data)
                dst.sendall(data)
                if action == "cut":
                    self._close_all()
                    self.cut.set()
                    return
                if action == "hold":
                    self.held.set()
                    self._released.wait()
                    return
        except OSError:
            pass
        finally:
            with self._lock:
                if pair in self._pairs:
                    self._pairs.remove(pair)
            self._close(pair)
