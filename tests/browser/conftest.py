"""Browser fixtures: a local static server, and Chromium pages with envelope.js loaded.

The page is made by the tests in a temporary folder (it is not shipped): it
loads the package's real tipline/web/static/js/sodium.js and envelope.js,
then the tests drive it with Playwright. Three modes:

- wasm: a normal browser;
- no-wasm: WebAssembly deleted before any script runs (Tor Browser "Safer");
- jitless: Chromium run with --js-flags=--jitless, which also has no WebAssembly.

Without Chromium or Playwright the tests skip, except under CI=true, where
they fail: CI must never pass by skipping them.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest

import tipline
from tests.conftest import unavailable

# The old name of tests.conftest.unavailable, for tests written against it.
_unavailable = unavailable

JS_DIR = Path(tipline.__file__).parent / "web" / "static" / "js"
CHROMIUM = os.environ.get("TIPLINE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MODES = ("wasm", "no-wasm", "jitless")
# What libsodium.js itself reports (uncaught) when it falls back to wasm2js; harmless.
FALLBACK_NOISE = "WebAssembly is not defined"

TEST_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>envelope.js test page</title></head>
<body>
<input type="file" id="file">
<script src="js/sodium.js"></script>
<script src="js/envelope.js"></script>
</body></html>
"""

# Helpers the tests call in the page (Blob <-> base64, fetching test data).
HELPERS = """() => {
  window.T = {
    b64ToBytes: (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0)),
    blobToB64: (blob) => new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(r.result.slice(r.result.indexOf(",") + 1));
      r.onerror = () => reject(r.error);
      r.readAsDataURL(blob);
    }),
    fetchBlob: async (path) => {
      const r = await fetch(path);
      if (!r.ok) throw new Error("fetch " + path + ": " + r.status);
      return await r.blob();
    },
  };
}"""


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
    }

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@dataclass
class StaticServer:
    root: Path
    url: str

    def add_file(self, name: str, data: bytes) -> str:
        """Serve data at /data/<name>; returns its path on the server."""
        (self.root / "data").mkdir(exist_ok=True)
        (self.root / "data" / name).write_bytes(data)
        return f"/data/{name}"


@pytest.fixture(scope="session")
def static_server(tmp_path_factory) -> Iterator[StaticServer]:
    if not (JS_DIR / "sodium.js").is_file():
        pytest.fail(
            f"{JS_DIR / 'sodium.js'} is missing: it is made by hatch_build.py when the package is "
            "built or installed. Run `.venv/bin/pip install -e '.[server,test]'`.",
            pytrace=False,
        )
    root = tmp_path_factory.mktemp("web")
    (root / "js").mkdir()
    for name in ("sodium.js", "envelope.js"):
        shutil.copyfile(JS_DIR / name, root / "js" / name)
    (root / "index.html").write_text(TEST_PAGE, "utf-8")
    handler = functools.partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield StaticServer(root, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as p:
        yield p


@dataclass
class EnvelopePage:
    """A page with sodium.js and envelope.js loaded, in one mode."""

    mode: str
    page: object
    server: StaticServer
    errors: list[str] = field(default_factory=list)

    def evaluate(self, script: str, arg: object = None) -> object:
        return self.page.evaluate(script, arg)

    def new_errors(self) -> list[str]:
        """Page errors other than libsodium's own fallback notice; clears the list."""
        errs = [e for e in self.errors if not (self.mode != "wasm" and FALLBACK_NOISE in e)]
        self.errors.clear()
        return errs


@pytest.fixture(scope="session")
def _pages(playwright_instance, static_server) -> Iterator[Callable[[str], EnvelopePage]]:
    browsers: dict[bool, object] = {}
    pages: dict[str, EnvelopePage] = {}

    def get(mode: str) -> EnvelopePage:
        if mode in pages:
            return pages[mode]
        jitless = mode == "jitless"
        if jitless not in browsers:
            args = CHROMIUM_ARGS + (["--js-flags=--jitless"] if jitless else [])
            browsers[jitless] = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browsers[jitless].new_context().new_page()
        page.set_default_timeout(180_000)
        ep = EnvelopePage(mode, page, static_server)
        page.on("pageerror", lambda e: ep.errors.append(str(e)))
        if mode == "no-wasm":
            page.add_init_script("delete globalThis.WebAssembly")
        page.goto(f"{static_server.url}/index.html")
        page.evaluate(HELPERS)
        backend = page.evaluate("async () => { await sodium.ready; return typeof WebAssembly; }")
        assert backend == ("object" if mode == "wasm" else "undefined"), (mode, backend)
        pages[mode] = ep
        return ep

    yield get
    for b in browsers.values():
        b.close()


@pytest.fixture(params=MODES)
def env_page(request, _pages) -> Iterator[EnvelopePage]:
    """The envelope page in each mode; fails the test on unexpected page errors."""
    ep = _pages(request.param)
    ep.new_errors()
    yield ep
    assert ep.new_errors() == []


@pytest.fixture
def wasm_page(_pages) -> Iterator[EnvelopePage]:
    """The envelope page in a normal browser only (for slow or CLI tests)."""
    ep = _pages("wasm")
    ep.new_errors()
    yield ep
    assert ep.new_errors() == []


@pytest.fixture
def jitless_page(_pages) -> Iterator[EnvelopePage]:
    """The envelope page without JIT or WebAssembly only (the slowest case)."""
    ep = _pages("jitless")
    ep.new_errors()
    yield ep
    assert ep.new_errors() == []
