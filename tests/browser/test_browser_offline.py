"""The real offline tool decrypts what the browser sealed."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tipline.format.keys import PublicKey

PASSPHRASE = "browser test passphrase, six words long"


@pytest.fixture(scope="module")
def offline_keys(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("browser-keys")
    (d / "pass.txt").write_text(PASSPHRASE + "\n")
    offline("keygen", "--out", str(d), "--name", "desk", "--passphrase-file", str(d / "pass.txt"))
    return d


def offline(*args: str) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "tipline.offline", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r


def test_cli_decrypts_browser_envelopes(wasm_page, offline_keys, tmp_path):
    pk = PublicKey.from_text((offline_keys / "desk.pub").read_text("utf-8"))
    content = bytes(range(256)) * 1000 + b"tail"
    url = wasm_page.server.add_file("upload.bin", content)
    text = "Meet at the usual place.\nÀ bientôt – 😀\n"
    envs = wasm_page.evaluate(
        """async ({pk, url, text}) => {
          const keys = [T.b64ToBytes(pk)];
          const file = new File([await T.fetchBlob(url)], "../../Budget 2024.ods",
                                {type: "application/vnd.oasis.opendocument.spreadsheet"});
          const m = await TiplineEnvelope.sealText(text, keys);
          const meta = {kind: "file", name: file.name, type: file.type};
          const f = await TiplineEnvelope.sealBlob(file, meta, keys);
          return [await T.blobToB64(m), await T.blobToB64(f)];
        }""",
        {"pk": base64.b64encode(pk.raw).decode(), "url": url, "text": text},
    )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "tip1.envelope").write_bytes(base64.b64decode(envs[0]))
    (inbox / "tip2.envelope").write_bytes(base64.b64decode(envs[1]))
    out = tmp_path / "out"
    r = offline(
        "decrypt",
        str(inbox),
        "--key",
        str(offline_keys / "desk.key"),
        "--out",
        str(out),
        "--passphrase-file",
        str(offline_keys / "pass.txt"),
    )
    assert "decrypted 2 item(s)" in r.stdout
    assert (out / "tip1" / "message.txt").read_bytes() == text.encode()
    files = list((out / "tip2" / "files").iterdir())
    assert len(files) == 1 and files[0].read_bytes() == content
    assert files[0].name.endswith("Budget 2024.ods") and not files[0].name.startswith(".")
    record = json.loads((out / "tip2" / "items.json").read_text("utf-8"))
    (item,) = record["items"].values()
    assert item["original_name"] == "../../Budget 2024.ods"
    assert item["media_type"] == "application/vnd.oasis.opendocument.spreadsheet"
    assert item["length"] == len(content)
