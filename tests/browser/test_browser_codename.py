"""codename.js derives in Chromium exactly what tipline.format.codename derives in Python.

The committed vectors (tests/vectors/codename/) run in the three modes of
conftest.py: with WebAssembly, without it, and jitless (Tor Browser "Safer").
libsodium.js's own crypto_kdf_derive_from_key is checked against the Python
construction (PyNaCl has no binding for it), and codenames made on one side
derive the same keys on the other: JavaScript on and off open the same
conversation.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import JS_DIR, MODES, EnvelopePage, ModePages
from tipline.format import codename

VECTORS = sorted((Path(__file__).parents[1] / "vectors" / "codename").glob("*.json"))
SCRIPTS = ("sodium-sumo.js", "codename-words.js", "codename.js")
PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>codename.js test page</title></head><body>"
    + "".join(f'<script src="js/{name}"></script>' for name in SCRIPTS)
    + "</body></html>"
)

RUN_CASES = """async (cases) => {
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const bytes = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
  const out = [];
  for (const c of cases) {
    try {
      const canonical = TiplineCodename.normalise(c.input);
      const d = await TiplineCodename.derive(c.input, bytes(c.install_salt));
      out.push({expect: "ok", canonical, verifier: hex(d.verifier), verifier_hash: hex(d.verifierHash),
                public_key: hex(d.publicKey), secret_key: hex(d.secretKey)});
    } catch (e) {
      let derived = "no";
      try { await TiplineCodename.derive(c.input, bytes(c.install_salt)); derived = "yes"; }
      catch (e2) { derived = e2.name; }
      out.push({expect: e.name, derive: derived});
    }
  }
  return out;
}"""

KDF = """async (cases) => {
  await sodium.ready;
  const bytes = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
  return cases.map(([n, id, ctx, key]) => sodium.crypto_kdf_derive_from_key(n, id, ctx, bytes(key), "hex"));
}"""

NEW = """async ([n, salt]) => {
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const bytes = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
  const out = [];
  for (let i = 0; i < n; i++) {
    const c = await TiplineCodename.newCodename();
    const d = await TiplineCodename.derive(c, bytes(salt));
    out.push([c, TiplineCodename.normalise(c), hex(d.verifier), hex(d.publicKey)]);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def _codename_pages(playwright_instance, static_server) -> Iterator[Callable[[str], EnvelopePage]]:
    for name in (*SCRIPTS, "sodium.js"):
        shutil.copyfile(JS_DIR / name, static_server.root / "js" / name)
    (static_server.root / "codename.html").write_text(PAGE, "utf-8")
    # The same page with the standard sodium.js, which has no crypto_pwhash.
    standard = PAGE.replace("sodium-sumo.js", "sodium.js")
    (static_server.root / "codename-standard.html").write_text(standard, "utf-8")
    pages = ModePages(playwright_instance, static_server, "codename.html", 300_000, helpers=False)
    yield pages
    pages.close()


@pytest.fixture(params=MODES)
def cn_page(request, _codename_pages) -> Iterator[EnvelopePage]:
    cp = _codename_pages(request.param)
    cp.new_errors()
    yield cp
    assert cp.new_errors() == []


def test_vectors(cn_page):
    cases = [json.loads(p.read_text("utf-8")) for p in VECTORS]
    got = cn_page.evaluate(RUN_CASES, cases)
    for path, case, result in zip(VECTORS, cases, got, strict=True):
        if case["expect"] == "BadCodename":
            assert result == {"expect": "BadCodename", "derive": "BadCodename"}, path.stem
            continue
        for key in ("canonical", "verifier", "verifier_hash", "public_key"):
            assert result[key] == case[key], (path.stem, key)
        # The secret key is not in the vectors; it must be the one Python derives.
        d = codename.derive(case["input"], bytes.fromhex(case["install_salt"]))
        assert result["secret_key"] == d.secret_key.hex(), path.stem


def test_kdf_matches_libsodium_js(cn_page):
    cases = []
    for subkey_id in (0, 1, 2, 7, 2**31 - 1):
        for length in (16, 32, 64):
            cases.append([length, subkey_id, "TLconv01", secrets.token_bytes(32).hex()])
    cases.append([32, 1, "Examples", bytes(range(32)).hex()])
    got = cn_page.evaluate(KDF, cases)
    want = [codename.kdf_derive_from_key(n, i, c.encode(), bytes.fromhex(k)).hex() for n, i, c, k in cases]
    assert got == want


def test_browser_codenames_work_in_python(cn_page):
    """JavaScript on, then off: a codename the browser made logs in through the server's derivation."""
    salt = secrets.token_bytes(16)
    for made, normalised, verifier, public_key in cn_page.evaluate(NEW, [3, salt.hex()]):
        assert normalised == made == codename.normalise(made)
        d = codename.derive(made, salt)
        assert (d.verifier.hex(), d.public_key.hex()) == (verifier, public_key)


def test_python_codenames_work_in_browser(cn_page):
    """JavaScript off, then on: a codename the server made, typed sloppily, derives the same in a browser."""
    salt = secrets.token_bytes(16)
    made = [codename.new_codename() for _ in range(3)]
    typed = [" " + m.upper().replace(" ", " -\n") + "\t" for m in made]
    cases = [{"input": t, "install_salt": salt.hex()} for t in typed]
    got = cn_page.evaluate(RUN_CASES, cases)
    for m, result in zip(made, got, strict=True):
        d = codename.derive(m, salt)
        assert result["canonical"] == m
        assert (result["verifier"], result["public_key"]) == (d.verifier.hex(), d.public_key.hex())


def test_browser_draws_from_the_whole_list(cn_page):
    """randombytes_uniform over 7772 words: 70 draws are all in the list, and not all alike."""
    got = cn_page.evaluate(
        "async () => { const out = [];"
        " for (let i = 0; i < 10; i++) out.push(await TiplineCodename.newCodename()); return out; }"
    )
    drawn = [w for c in got for w in c.split(" ")]
    assert len(drawn) == 70 and set(drawn) <= set(codename.words())
    assert len(set(drawn)) > 50


def test_standard_sodium_js_gets_a_clear_error(_codename_pages):
    """The submission form's sodium.js lacks crypto_pwhash: codename.js says what to load instead."""
    page = _codename_pages("wasm").page
    url = page.url.replace("/codename.html", "/codename-standard.html")
    other = page.context.new_page()
    try:
        other.goto(url)
        got = other.evaluate(
            "async (c) => { try { await TiplineCodename.derive(c, new Uint8Array(16)); return 'derived'; }"
            " catch (e) { return e.message; } }",
            codename.new_codename(),
        )
    finally:
        other.close()
    assert "sodium-sumo.js" in got
