"""Helpers for the deployment tests: the repo's deploy/ files, rendered for a temporary machine."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import missing

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VENV_BIN = Path(sys.executable).parent  # .venv/bin: gunicorn and tipline live next to python

# deploy/torrc's substitution rule (its header comment): these strings, and nothing else.
TORRC_SOURCE_DIR = "/var/lib/tor/tipline-source"
TORRC_JOURNALIST_DIR = "/var/lib/tor/tipline-journalist"
TORRC_SOURCE_TARGET = "127.0.0.1:8080"
TORRC_JOURNALIST_TARGET = "127.0.0.1:8081"
TORRC_RUN_DIR = "/run/tor"  # ControlSocket, CookieAuthFile and the notify SocksPort


def need_tool(name: str, how: str | None = None) -> str:
    """The tool's path; skip naming its package if it is missing (under CI=true, fail)."""
    path = shutil.which(name)
    if path:
        return path
    missing(name, how)


def render_torrc(
    base: Path, source_port: int = 18080, journalist_port: int = 18081
) -> tuple[Path, Path, Path]:
    """deploy/torrc for this machine: onion service folders under BASE (mode 0700), other ports,
    the control socket in BASE/run (control_socket(BASE)).

    Returns (torrc, source_dir, journalist_dir)."""
    src, jour, run = base / "hs-source", base / "hs-journalist", base / "run"
    for d in (src, jour, run):
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = (DEPLOY / "torrc").read_text()
    for old, new in (
        (TORRC_SOURCE_DIR, str(src)),
        (TORRC_JOURNALIST_DIR, str(jour)),
        (TORRC_SOURCE_TARGET, f"127.0.0.1:{source_port}"),
        (TORRC_JOURNALIST_TARGET, f"127.0.0.1:{journalist_port}"),
        (TORRC_RUN_DIR, str(run)),
    ):
        text = text.replace(old, new)
    out = base / "torrc"
    out.write_text(text)
    return out, src, jour


def control_socket(base: Path) -> Path:
    """Where render_torrc(BASE)'s tor listens for its controller."""
    return base / "run" / "control"


def tor_cmd(tor: str, torrc: Path, data: Path, *extra: str) -> list[str]:
    """Run tor on TORRC alone (no Debian defaults file), its state in DATA."""
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    empty = data.parent / "empty-defaults-torrc"
    empty.write_text("")
    return [tor, "--defaults-torrc", str(empty), "-f", str(torrc), "--DataDirectory", str(data), *extra]


def tipline(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tipline.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


def onion_address(pubkey: bytes | None = None) -> str:
    """A valid v3 onion name (rend-spec-v3 6), without .onion."""
    pubkey = pubkey or os.urandom(32)
    checksum = hashlib.sha3_256(b".onion checksum" + pubkey + b"\x03").digest()[:2]
    return base64.b32encode(pubkey + checksum + b"\x03").decode().lower()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout} s: {log.read_text()}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def add_key(data_dir: Path) -> None:
    from tipline.format.keys import SecretKey

    pub = data_dir.parent / "journalist.pub"
    pub.write_text(SecretKey.generate().public_key.to_text())
    r = tipline("keys", "add", "--data-dir", str(data_dir), str(pub))
    assert r.returncode == 0, r.stderr
