"""What the upload tests in Chromium share: seeded files, envelope lengths, a site and proxy of their own."""

from __future__ import annotations

import hashlib
import random
import re
import time
from pathlib import Path

from tests.browser.conftest import export_and_decrypt, first_done
from tests.web.server import Server
from tipline.format.payload import Metadata
from tipline.format.stream import CHUNK

MIB = 1024 * 1024
LONG = 900_000  # ms: 100 MB without a JIT seals at about 1 MiB/s
RETRYING = re.compile(r"Connection lost\. Retrying in \d+ s\.")


def make_file(path: Path, size: int, seed: int) -> str:
    """Write `size` seeded random bytes to path, a MiB at a time; returns their SHA-256."""
    rng, digest = random.Random(seed), hashlib.sha256()
    with path.open("wb") as f:
        for start in range(0, size, MIB):
            block = rng.randbytes(min(MIB, size - start))
            f.write(block)
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def envelope_length(size: int, name: str) -> int:
    """The length of a file's envelope sealed to one key (docs/envelope.md), as the page computes it."""
    from tipline.format.padding import padme

    meta = Metadata("file", name, "application/octet-stream").encode(size)
    total = padme(size + len(meta) + 2)
    return 9 + 88 + 24 + total + 17 * -(-total // CHUNK)


def decrypted_file(srv: Server, keydir: Path, work: Path, name: str) -> Path:
    out = export_and_decrypt(srv, keydir, work)
    (found,) = out.rglob(f"files/{name}")
    return found


def send_file(tab, path: Path, timeout: float = LONG) -> float:
    """Pick the file in the form and send it as a first tip; returns the seconds it took."""
    tab.page.set_input_files("#files", str(path))
    began = time.monotonic()
    tab.page.click("#send")
    first_done(tab.page, timeout=timeout)
    return time.monotonic() - began


def records(tab) -> dict[str, str]:
    return tab.page.evaluate(
        """() => Object.fromEntries(Object.keys(sessionStorage)
             .filter((k) => k.startsWith("tipline.upload.")).map((k) => [k, sessionStorage.getItem(k)]))"""
    )


def held_by(srv: Server, upload_id: str) -> int:
    """The server's Upload-Offset, once no request writes to the upload any more (423 until then)."""
    for _ in range(600):
        head = srv.request("HEAD", f"/uploads/{upload_id}", headers={"Tus-Resumable": "1.0.0"})
        if head.status != 423:
            assert head.status == 200, (head.status, head.body)
            return int(head.header("Upload-Offset"))
        time.sleep(0.1)
    raise AssertionError("the upload stayed busy")
