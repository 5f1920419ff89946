"""The README's first command: `tipline demo` serves a working tip line and prints how to read it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import submission_folders
from tests.web.server import Server, free_port


def test_demo_end_to_end(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tipline.cli", "demo", "--dir", str(tmp_path / "demo"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        cwd=tmp_path,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Stop the demo" in ln for ln in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in text, text
        fetch = next(ln.strip() for ln in lines if "tipline-offline" in ln and "decrypt" in ln)

        srv = Server(tmp_path / "demo" / "data", tmp_path, tmp_path / "unused.log", port)
        for _ in range(100):
            try:
                token = srv.csrf_token()
                break
            except OSError:
                time.sleep(0.2)
        r = srv.post_form(
            [("csrf_token", token), ("message", "demo tip ✓")],
            [("files", "doc.txt", b"attached", "text/plain")],
        )
        assert r.status == 200  # the codename page, answered directly

        # Run exactly the printed command, with the venv's tools on PATH.
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        done = subprocess.run(
            fetch, shell=True, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr + done.stdout
        (sub,) = submission_folders(tmp_path / "demo" / "decrypted").values()
        assert (sub / "message.txt").read_text() == "demo tip ✓"
        assert (sub / "files" / "doc.txt").read_bytes() == b"attached"
        assert re.search(r"demo-passphrase", fetch)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
