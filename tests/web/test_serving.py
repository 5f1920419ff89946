"""`tipline serve` itself: where it may listen, and what its responses say about the server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.web.server import Server, free_port, make_server


def response_head(port: int, path: str) -> list[str]:
    """The status line and header lines exactly as they came over the socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data and (chunk := s.recv(65536)):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")


def fingerprinting_headers(head: list[str]) -> list[str]:
    return [line for line in head[1:] if line.split(":", 1)[0].strip().lower() in ("server", "date")]


@pytest.mark.parametrize("app", ["source", "journalist"])
def test_no_server_or_date_header(tmp_path, keydir, app):
    srv = make_server(tmp_path, keydir / "journalist.pub").start("--app", app)
    try:
        for path in ("/", "/login", "/static/style.css", "/no-such-page"):
            head = response_head(srv.port, path)
            assert head[0].startswith("HTTP/1.1 "), head
            assert any(line.startswith("Content-Security-Policy:") for line in head), head  # the app's answer
            assert fingerprinting_headers(head) == [], (path, head)
    finally:
        srv.stop()


def serve(srv: Server, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tipline.cli", "serve", "--data-dir", str(srv.data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, **(env or {})),
    )


@pytest.mark.parametrize("how", ["flag", "environment", "settings file"])
@pytest.mark.parametrize("host", ["0.0.0.0", "[::]", "192.0.2.1", ""])
def test_serve_refuses_a_public_bind(tmp_path, keydir, host, how):
    srv = make_server(tmp_path, keydir / "journalist.pub")  # a key, so only the bind is wrong
    port = free_port()
    bind = f"{host}:{port}"
    if how == "flag":
        r = serve(srv, "--bind", bind)
    elif how == "environment":
        r = serve(srv, env={"TIPLINE_BIND": bind})
    else:
        (srv.data_dir / "tipline.toml").write_text(f'bind = "{bind}"\n')
        r = serve(srv)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == (
        f"tipline: refusing to bind to {bind!r}: Tipline must be reachable only through its Tor onion "
        "service. Set --bind (or TIPLINE_BIND, or bind in tipline.toml) to 127.0.0.1:PORT or unix:/path."
    )
    assert "Listening" not in r.stdout + r.stderr
    with socket.socket() as s:  # and nothing listens there
        assert s.connect_ex(("127.0.0.1", port)) != 0
