"""The browser shortens long file names exactly as the server does (docs/envelope.md, "Long names")."""

from __future__ import annotations

import json
import random
import secrets

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, first_done
from tests.conftest import export_and_decrypt, submission_folders
from tests.format.test_shorten import ALPHABET
from tests.web.server import make_server
from tests.web.test_long_names import HOSTILE, LONG_TYPE
from tipline.format.shorten import file_metadata

FILE_META = "([names, type]) => names.map((n) => TiplineEnvelope.fileMeta(n, type))"


def fuzz_names(n: int) -> list[str]:
    rng = random.Random(9)
    # No lone surrogate: it cannot cross from Python to the page intact (JSON serialisation).
    alphabet = [c for c in ALPHABET if not 0xD800 <= ord(c) <= 0xDFFF]
    return [
        "".join(rng.choice(alphabet) for _ in range(rng.choice([3, 900, 1100, 2000])))
        + rng.choice(["", ".pdf", "." + "😀" * 20])
        for _ in range(n)
    ]


@pytest.mark.parametrize("media_type", ["application/pdf", LONG_TYPE])
def test_file_meta_matches_python(wasm_page, media_type):
    names = [*HOSTILE, "report.pdf", "", *fuzz_names(60)]
    got = wasm_page.evaluate(FILE_META, [names, media_type])
    for name, meta in zip(names, got, strict=True):
        want = file_metadata(name, media_type)
        assert (meta["kind"], meta["name"], meta["type"]) == ("file", want.name, want.media_type), name[:40]
        # What the page then encodes is byte for byte what Python would (it must not throw).
        encoded = wasm_page.evaluate(
            "([m]) => Array.from(TiplineEnvelope.encodeMeta(m, Number.MAX_SAFE_INTEGER))", [meta]
        )
        assert bytes(encoded) == want.encode(2**53 - 1)


def test_long_name_tip_sent_from_the_page(playwright_instance, keydir, tmp_path):
    """A file whose name would overflow the metadata is sent, sealed in the browser, and arrives whole."""
    marker = f"LONGNAME-{secrets.token_hex(6)}"
    name = "😀" * 1024 + ".txt"
    content = f"{marker}\n".encode() * 10
    srv = make_server(tmp_path / "site", keydir / "journalist.pub").start()
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(srv.url + "/")
        page.fill("#message", marker)
        page.set_input_files("#files", [{"name": name, "mimeType": "text/plain", "buffer": content}])
        page.click("#send")
        first_done(page)
        assert errors == []
    finally:
        browser.close()
        srv.stop()
    out = export_and_decrypt(srv.data_dir, keydir, tmp_path / "work")
    folders = submission_folders(out).values()
    (sub,) = [d for d in folders if (d / "message.txt").read_text(errors="replace") == marker]
    record = json.loads((sub / "items.json").read_text())
    assert record["sealed_by"] == "browser"
    (item,) = [i for i in record["items"].values() if i["kind"] == "file"]
    assert item["original_name"] == file_metadata(name, "text/plain").name
    assert item["original_name"].endswith("\u2026.txt")
    assert (sub / item["saved_as"]).read_bytes() == content
