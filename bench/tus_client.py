"""Push an envelope through tuspy, the tus project's own Python client, to show any tus client works.

Why this is here and not in the tests: tuspy imports aiohttp at import time,
so it brings a dozen packages (aiohttp, multidict, yarl, requests, tinydb, ...,
about 12 MB) into the test extras for one check. tests/web/test_uploads_http.py
speaks the protocol itself; this runs a real tus client against a real
`tipline serve` by hand, after a change to tipline/web/tus.py:

    .venv/bin/pip install tuspy && .venv/bin/python bench/tus_client.py

It creates the upload with the CSRF header and cookie, sends it in 1 MiB parts,
stops half-way and resumes from the server's offset (tuspy asks HEAD), commits
the tip, and checks that the stored envelope is the one sent, byte for byte.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tusclient import client as tus

from tipline.format.keys import SecretKey
from tipline.format.payload import Metadata
from tipline.format.stream import decrypt_bytes, seal_bytes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="tipline-tus-"))
    data, key = work / "data", SecretKey.generate()
    (work / "j.pub").write_text(key.public_key.to_text())
    tipline = [sys.executable, "-m", "tipline.cli"]
    subprocess.run([*tipline, "keys", "add", "--data-dir", str(data), str(work / "j.pub")], check=True)
    port = free_port()
    server = subprocess.Popen(
        [*tipline, "serve", "--data-dir", str(data), "--bind", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                page = urllib.request.urlopen(base + "/")
                break
            except OSError:
                time.sleep(0.1)
        cookie = page.headers["Set-Cookie"].split(";", 1)[0]
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.read().decode()).group(1)
        content = os.urandom(3 * 1024 * 1024 + 777)
        env = seal_bytes(content, Metadata("file", "through-tuspy.bin", ""), [key.public_key])

        c = tus.TusClient(base + "/uploads", headers={"Tipline-CSRF-Token": token, "Cookie": cookie})
        up = c.uploader(file_stream=io.BytesIO(env), chunk_size=1024 * 1024)
        up.upload(stop_at=2 * 1024 * 1024)  # half-way: a dropped connection, say
        again = c.uploader(file_stream=io.BytesIO(env), chunk_size=1024 * 1024, url=up.url)
        assert again.offset == 2 * 1024 * 1024, again.offset  # from the server's HEAD
        again.upload()
        upload_id = up.url.rsplit("/", 1)[1]

        body = urllib.parse.urlencode({"csrf_token": token, "upload": upload_id}).encode()
        b64 = "A" * 42 + "E"  # a public key and a verifier as the page sends them (32 bytes each)
        req = urllib.request.Request(
            base + "/submit?sealed=browser",
            data=body,
            headers={
                "Cookie": cookie,
                "Accept": "application/json",
                "Tipline-Source-Public-Key": b64.replace("A", "B", 1),
                "Tipline-Verifier": b64,
            },
        )
        answer = json.loads(urllib.request.urlopen(req).read())
        assert answer == {"ok": True}, answer
        (stored,) = (p.read_bytes() for p in (data / "store" / "submissions").rglob("*.envelope"))
        assert stored == env and decrypt_bytes(stored, [key])[1] == content
        print(f"tuspy: created, sent {len(env)} bytes in 1 MiB parts, resumed half-way, committed: ok")
        return 0
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
