"""A small tus client for the tests, over the harness's raw HTTP (docs/uploads.md), and disk checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.web.server import Response, Server, first_tip_headers
from tipline.format.keys import PublicKey
from tipline.format.payload import Metadata
from tipline.format.stream import seal_bytes

MIB = 1024 * 1024


def journalist_key(keydir: Path) -> PublicKey:
    return PublicKey.from_text((keydir / "journalist.pub").read_text())


def message_envelope(keydir: Path, text: str) -> bytes:
    return seal_bytes(
        text.encode(), Metadata("message", "", "text/plain; charset=utf-8"), [journalist_key(keydir)]
    )


def file_envelope(keydir: Path, content: bytes, name: str = "leak.bin") -> bytes:
    return seal_bytes(content, Metadata("file", name, "application/octet-stream"), [journalist_key(keydir)])


class Tus:
    """Requests as the page sends them: the CSRF token of the page the cookie came with."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.token = server.csrf_token()

    def request(self, method: str, path: str, body: bytes | None = None, **headers: str) -> Response:
        h = {"Tus-Resumable": "1.0.0", "Tipline-CSRF-Token": self.token}
        h.update({k.replace("_", "-"): v for k, v in headers.items()})
        return self.server.request(method, path, body=body, headers=h)

    def create(self, length: int) -> str:
        r = self.request("POST", "/uploads", Upload_Length=str(length))
        assert r.status == 201, (r.status, r.body)
        return r.header("Location").removeprefix("/uploads/")

    def patch(self, upload_id: str, offset: int, data: bytes, **headers: str) -> Response:
        h = {"Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset), **headers}
        return self.request("PATCH", f"/uploads/{upload_id}", data, **h)

    def head(self, upload_id: str) -> Response:
        return self.request("HEAD", f"/uploads/{upload_id}")

    def send(self, data: bytes, part: int = MIB, upto: int | None = None) -> str:
        """Create an upload for `data` and send it (up to byte `upto`) in parts; returns its id."""
        upload_id = self.create(len(data))
        end = len(data) if upto is None else upto
        for offset in range(0, end, part):
            r = self.patch(upload_id, offset, data[offset : min(offset + part, end)])
            assert r.status == 204, (r.status, r.body)
            assert int(r.header("Upload-Offset")) == min(offset + part, end)
        return upload_id

    def commit(self, upload_ids: list[str], path: str = "/submit?sealed=browser", headers=None) -> Response:
        from urllib.parse import urlencode

        fields = [("csrf_token", self.token), *(("upload", i) for i in upload_ids)]
        h = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        h.update(first_tip_headers() if headers is None else headers)
        return self.server.request("POST", path, body=urlencode(fields).encode(), headers=h)


def reply(r: Response) -> dict:
    return json.loads(r.body)


def pending(server: Server) -> dict[str, bytes]:
    """Every name and every byte under store/pending/ (the uploads, any intake folder)."""
    root = server.data_dir / "store" / "pending"
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(root.rglob("*"))
    }


def uploads_dir(server: Server) -> Path:
    return server.data_dir / "store" / "pending" / "uploads"


def expire(server: Server, upload_id: str, hour: str = "2020-01-01T00:00Z") -> None:
    """Make an upload's time limit be over, as waiting pending_upload_hours would.

    The server decides from the one time it keeps, the sidecar's expiry hour,
    compared with the present hour: writing a past hour there is what a day's
    wait leaves, without the day.
    """
    sidecar = uploads_dir(server) / f"{upload_id}.json"
    doc = json.loads(sidecar.read_text())
    doc["expires"] = hour
    sidecar.write_text(json.dumps(doc))


def cookie_header(server: Server) -> str:
    return "; ".join(f"{k}={v}" for k, v in server.cookies.items())


def random_bytes(n: int) -> bytes:
    return os.urandom(n)
