"""A real `tipline serve` (gunicorn) on loopback, and a small raw HTTP client for it."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass
class Server:
    data_dir: Path
    tmp_dir: Path
    log_path: Path
    port: int
    proc: subprocess.Popen | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    # Another version's code (tests/ops/historic.py): its environment (PYTHONPATH) and a folder to run in.
    env: dict[str, str] | None = None
    cwd: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *flags: str) -> Server:
        base = os.environ if self.env is None else self.env
        env = dict(base, TMPDIR=str(self.tmp_dir), TEMP=str(self.tmp_dir), TMP=str(self.tmp_dir))
        self.log = open(self.log_path, "ab")  # noqa: SIM115 (kept open for the server's life)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tipline.cli",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--bind",
                f"127.0.0.1:{self.port}",
                *flags,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.cwd,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tipline serve exited: {self.log_path.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("tipline serve did not start in 30 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    # -- HTTP -----------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict | None = None,
        cookies: bool = True,
    ) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        h = dict(headers or {})
        if cookies and self.cookies:
            h.setdefault("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        resp = Response(r.status, r.headers, r.read())
        conn.close()
        for value in resp.headers.get_all("Set-Cookie") or []:
            k, v = value.split(";", 1)[0].split("=", 1)
            self.cookies[k] = v
        return resp

    def get(self, path: str = "/", **kw) -> Response:
        return self.request("GET", path, **kw)

    def post_urlencoded(self, path: str, fields: dict) -> Response:
        from urllib.parse import urlencode

        body = urlencode(fields, doseq=True).encode()
        return self.request(
            "POST", path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )

    def csrf_token(self) -> str:
        page = self.get("/").body.decode()
        return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)

    def post_form(
        self,
        fields: list[tuple[str, str]],
        files: list[tuple[str, str, bytes, str]] = (),
        path: str = "/submit",
        headers: dict | None = None,
    ) -> Response:
        body, ctype = multipart(fields, files)
        return self.request("POST", path, body=body, headers={"Content-Type": ctype, **(headers or {})})

    # -- what is on disk ------------------------------------------------------

    def stored(self) -> dict[str, bytes]:
        """Every file under the data dir's store, path -> bytes (envelopes, pending)."""
        root = self.data_dir / "store"
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    def submission_count(self) -> int:
        import sqlite3

        con = sqlite3.connect(self.data_dir / "tipline.sqlite3")
        try:
            return con.execute("select count(*) from submissions").fetchone()[0]
        finally:
            con.close()


def first_tip_headers() -> dict[str, str]:
    """What a browser sends with a first tip: a public key and a login verifier (random here)."""
    import base64

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(os.urandom(n)).rstrip(b"=").decode()

    return {"Tipline-Source-Public-Key": b64(32), "Tipline-Verifier": b64(32)}


def multipart(
    fields: Sequence[tuple[str, str]], files: Sequence[tuple[str, str, bytes, str]] = ()
) -> tuple[bytes, str]:
    """A multipart/form-data body as a browser sends it: fields, then files (name, filename, data, type)."""
    boundary = "----tipline" + uuid.uuid4().hex
    out = []
    for name, value in fields:
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.append(value.encode() + b"\r\n")
    for name, filename, data, ctype in files:
        out.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n".encode()
        )
        out.append(data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def fill_disk(path: Path) -> None:
    """Write zeros to `path` until its file system is full (a small tmpfs in the tests).

    Unbuffered, and down to single bytes: a buffered file would keep the
    bytes that did not fit and raise again when it is closed.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        size = 65536
        while size:
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                size //= 2
    finally:
        os.close(fd)


def make_server(base: Path, pubfile: Path | None) -> Server:
    data = base / "data"
    tmp = base / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    if pubfile is not None:
        subprocess.run(
            [sys.executable, "-m", "tipline.cli", "keys", "add", "--data-dir", str(data), str(pubfile)],
            check=True,
            capture_output=True,
        )
    return Server(data, tmp, base / "server.log", free_port())


def raw(server: Server, data: bytes, close_after: bool = True) -> bytes:
    """Send bytes on a new connection (half a request, a header only), then read what comes back."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        s.sendall(data)
        if close_after:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)
    finally:
        s.close()
