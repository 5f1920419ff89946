"""envelope-open.js, the browser's reader, against every committed vector (sealed in Python).

A source opens the newsroom's replies with it, so it must accept exactly what
tipline.format accepts and refuse the rest with the same error name, with
WebAssembly, without it, and jitless.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from tests.browser.conftest import JS_DIR
from tipline.format.keys import SecretKey
from tipline.format.payload import Metadata
from tipline.format.stream import CHUNK, seal_bytes

VECTORS = sorted((Path(__file__).parents[1] / "vectors").glob("*.json"))

OPEN = """async ([env, key]) => {
  const bytes = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  try {
    const r = await TiplineEnvelopeOpen.openBytes(bytes(env), bytes(key));
    const digest = await crypto.subtle.digest("SHA-256", r.content);
    const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    return {ok: true, meta: r.meta, sha256: hex, length: r.content.length,
            text: new TextDecoder().decode(r.content.slice(0, 200))};
  } catch (e) {
    return {ok: false, error: e.name};
  }
}"""


def load(page) -> None:
    if page.evaluate("typeof TiplineEnvelopeOpen") == "undefined":
        page.page.add_script_tag(content=(JS_DIR / "envelope-open.js").read_text("utf-8"))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_every_vector(env_page):
    load(env_page)
    for path in VECTORS:
        v = json.loads(path.read_text("utf-8"))
        key = b64(bytes.fromhex(v["secret_key"]))
        got = env_page.evaluate(OPEN, [v["envelope"], key])
        if v["expect"] == "ok":
            assert got["ok"], (path.name, got)
            assert got["sha256"] == v["content_sha256"] and got["length"] == v["content_length"], path.name
            assert {k: got["meta"][k] for k in ("kind", "name", "type")} == v["meta"], path.name
        else:
            assert got == {"ok": False, "error": v["expect"]}, path.name


@pytest.mark.parametrize("size", [0, 1, CHUNK - 40, CHUNK, 3 * CHUNK + 5])
def test_a_reply_sealed_to_the_source_and_the_newsroom(wasm_page, size):
    """A reply as tipline.format seals it, to the source's key and a journalist's: the source opens it."""
    load(wasm_page)
    source, journalist = SecretKey.generate(), SecretKey.generate()
    text = ("é" * size)[: size // 2]
    env = seal_bytes(
        text.encode(),
        Metadata("message", "", "text/plain; charset=utf-8"),
        [journalist.public_key, source.public_key],
    )
    got = wasm_page.evaluate(OPEN, [b64(env), b64(source.raw)])
    assert got["ok"] and got["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert got["meta"] == {
        "v": 1,
        "kind": "message",
        "name": "",
        "type": "text/plain; charset=utf-8",
        "length": len(text.encode()),
    }
    stranger = wasm_page.evaluate(OPEN, [b64(env), b64(SecretKey.generate().raw)])
    assert stranger == {"ok": False, "error": "NoMatchingKey"}
