"""Slow-body attacks: trickling clients are cut off and cannot starve honest sources."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.web.server import make_server, multipart


@pytest.fixture
def strict_server(tmp_path, keydir):
    srv = make_server(tmp_path, keydir / "journalist.pub")
    srv.data_dir.joinpath("tipline.toml").write_text(
        "body_idle_s = 3\nbody_grace_s = 2\nbody_min_rate = 1024\n"
    )
    srv.start("--workers", "1")  # one worker, 8 threads: easy to starve without the guard
    yield srv
    srv.stop()


def trickle(srv, results: list, idx: int, stop: threading.Event) -> None:
    token = srv.csrf_token()
    body, ctype = multipart([("csrf_token", token), ("message", "x" * 10_000)])
    cookie = "; ".join(f"{k}={v}" for k, v in srv.cookies.items())
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
    s.sendall(
        f"POST /submit HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nCookie: {cookie}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    reply = b""
    try:
        for i in range(len(body)):
            if stop.is_set():
                break
            s.sendall(body[i : i + 1])  # one byte at a time
            s.settimeout(0.3)
            try:
                reply = s.recv(4096)
                if reply or reply == b"":
                    break
            except TimeoutError:
                pass
    except OSError:
        pass  # the server closed the connection on us: also a cut-off
    results[idx] = reply
    s.close()


def test_trickling_clients_are_cut_off_and_others_still_get_through(strict_server):
    srv = strict_server
    n = 12  # more than the worker's 8 threads
    results: list = [None] * n
    stop = threading.Event()
    threads = [threading.Thread(target=trickle, args=(srv, results, i, stop)) for i in range(n)]
    for t in threads:
        t.start()
    time.sleep(1)
    # An honest source arrives while every thread is held by a trickler.
    token = srv.csrf_token()
    r = srv.post_form([("csrf_token", token), ("message", "honest tip")])
    assert r.status == 200
    for t in threads:
        t.join(60)
    stop.set()
    assert all(not t.is_alive() for t in threads)
    # Every trickler was answered 408 or disconnected; none got its tip stored.
    for reply in results:
        assert reply in (b"",) or reply.startswith(b"HTTP/1.1 408"), reply[:80]
    assert srv.submission_count() == 1


def test_slow_but_steady_upload_is_accepted(strict_server):
    """Above the floor (here 1 KiB/s), a slow upload over several seconds goes through."""
    srv = strict_server
    token = srv.csrf_token()
    body, ctype = multipart([("csrf_token", token)], [("files", "slow.bin", b"s" * 60_000, "x/y")])
    cookie = "; ".join(f"{k}={v}" for k, v in srv.cookies.items())
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
    s.sendall(
        f"POST /submit HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nCookie: {cookie}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    )
    for i in range(0, len(body), 2000):  # about 13 KB/s, for about 5 seconds
        s.sendall(body[i : i + 2000])
        time.sleep(0.15)
    reply = s.recv(4096)
    s.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply[:100]
    assert srv.submission_count() == 1
