"""Browser fixtures: Chromium pages with envelope.js loaded, and tabs on a real tip line.

The page is made by the tests in a temporary folder (it is not shipped): it
loads the package's real tipline/web/static/js/sodium.js and envelope.js,
then the tests drive it with Playwright. Three modes:

- wasm: a normal browser;
- no-wasm: WebAssembly deleted before any script runs (Tor Browser "Safer");
- jitless: Chromium run with --js-flags=--jitless, which also has no WebAssembly.

The second half (site, small_site, open_tab) serves the real source app with
a real `tipline serve` and opens Chromium tabs on it, for test_source_*.py.

The last part (firefox, firefox_js_off) gives Firefox ESR at Tor Browser's
"Safer" prefs, driven through Marionette (tests/browser/firefox.py), for
test_firefox_*.py.

Without Chromium or Playwright (Firefox ESR or marionette-driver) the tests
skip, except under CI=true, where they fail: CI must never pass by skipping them.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs

import pytest

import tipline
from tests.browser.firefox import FIREFOX, Firefox, NetworkTrap, launch, marionette_driver
from tests.browser.proxy import Proxy
from tests.conftest import export_and_decrypt as export_bundle_and_decrypt
from tests.conftest import missing, submission_folders, unavailable
from tests.web.server import Server, make_server

JS_DIR = Path(tipline.__file__).parent / "web" / "static" / "js"
CHROMIUM = os.environ.get("TIPLINE_CHROMIUM") or shutil.which("chromium") or "chromium"
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
        missing("chromium")
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


class ModePages:
    """One page per mode on a static test page, in up to two Chromiums (normal and jitless).

    The envelope tests and the codename tests each have one, on pages of their own.
    """

    def __init__(self, playwright_instance, static_server, page: str, timeout_ms: int, helpers: bool) -> None:
        self._playwright, self._server = playwright_instance, static_server
        self._page, self._timeout, self._helpers = page, timeout_ms, helpers
        self._browsers: dict[bool, object] = {}
        self._pages: dict[str, EnvelopePage] = {}

    def __call__(self, mode: str) -> EnvelopePage:
        if mode in self._pages:
            return self._pages[mode]
        jitless = mode == "jitless"
        if jitless not in self._browsers:
            args = CHROMIUM_ARGS + (["--js-flags=--jitless"] if jitless else [])
            self._browsers[jitless] = self._playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        page = self._browsers[jitless].new_context().new_page()
        page.set_default_timeout(self._timeout)
        ep = EnvelopePage(mode, page, self._server)
        page.on("pageerror", lambda e: ep.errors.append(str(e)))
        if mode == "no-wasm":
            page.add_init_script("delete globalThis.WebAssembly")
        page.goto(f"{self._server.url}/{self._page}")
        if self._helpers:
            page.evaluate(HELPERS)
        backend = page.evaluate("async () => { await sodium.ready; return typeof WebAssembly; }")
        assert backend == ("object" if mode == "wasm" else "undefined"), (mode, backend)
        self._pages[mode] = ep
        return ep

    def close(self) -> None:
        for b in self._browsers.values():
            b.close()


@pytest.fixture(scope="session")
def _pages(playwright_instance, static_server) -> Iterator[Callable[[str], EnvelopePage]]:
    pages = ModePages(playwright_instance, static_server, "index.html", 180_000, helpers=True)
    yield pages
    pages.close()


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


# -- the source page on a real `tipline serve`: servers, browsers, tabs --------------------------
#
# Used by every test of the source page (test_source_*.py): a Tab is a page in a
# fresh browser context that records every request, every POST body, console and
# page errors, CSP violations and each text the progress label showed.

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
THANKS = "Thank you. Your tip has arrived."
ERROR_PAGE = "/no-such-page"

# Runs in every page before its own scripts (Playwright's init scripts are not subject
# to the page's CSP): reports CSP violations, each text of the progress label, and each
# text of the note that says where the tip will be encrypted. The note is watched from
# the first parsed byte: DOMContentLoaded waits for every deferred script, sodium.js too.
WATCH = """
document.addEventListener("securitypolicyviolation", (e) =>
  console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI));
(() => {
  let last = null;
  new MutationObserver(() => {
    const note = document.getElementById("crypto-note");
    const text = note && note.textContent.replace(/\\s+/g, " ").trim();
    if (note && text !== last) console.log("note: " + (last = text));
  }).observe(document, {childList: true, characterData: true, subtree: true});
})();
document.addEventListener("DOMContentLoaded", () => {
  const label = document.getElementById("progress-label");
  if (label) new MutationObserver(() => console.log("progress: " + label.textContent))
    .observe(label, {childList: true, characterData: true, subtree: true});
});
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory, keydir) -> Iterator[Server]:
    srv = make_server(tmp_path_factory.mktemp("site"), keydir / "journalist.pub").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def small_site(tmp_path_factory, keydir) -> Iterator[Server]:
    srv = make_server(tmp_path_factory.mktemp("small-site"), keydir / "journalist.pub")
    srv.start("--max-upload-mb", "1", "--max-files", "2")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def _browsers(playwright_instance) -> Iterator[Callable[[bool], object]]:
    launched: dict[bool, object] = {}

    def get(jitless: bool):
        if jitless not in launched:
            args = CHROMIUM_ARGS + (["--js-flags=--jitless"] if jitless else [])
            launched[jitless] = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=args)
        return launched[jitless]

    yield get
    for b in launched.values():
        b.close()


@dataclass
class Tab:
    """A page in a fresh browser context, and everything it did."""

    mode: str
    page: object
    origin: str
    urls: list[str] = field(default_factory=list)
    posts: list[tuple[str, bytes | None]] = field(default_factory=list)
    # Every request but a GET: (method, url, headers, body).
    sent: list[tuple[str, str, dict[str, str], bytes | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    progress: list[str] = field(default_factory=list)
    # ("note", text) and ("post", url, body), in the order they happened.
    events: list[tuple] = field(default_factory=list)

    def goto(self, path: str, **kw):
        return self.page.goto(self.origin + path, **kw)

    @property
    def notes(self) -> list[str]:
        return [e[1] for e in self.events if e[0] == "note"]

    def problems(self) -> list[str]:
        """Page errors, console errors and CSP violations, less libsodium's harmless fallback notice."""
        return [e for e in self.errors if not (self.mode != "wasm" and FALLBACK_NOISE in e)]


def _console(tab: Tab, msg) -> None:
    text = msg.text
    if text.startswith("progress: "):
        tab.progress.append(text.removeprefix("progress: "))
    elif text.startswith("note: "):
        tab.events.append(("note", text.removeprefix("note: ")))
    elif msg.type == "error":
        url = (msg.location or {}).get("url", "")
        # The browser's own favicon.ico request, and the error page we asked for, are 404s by design.
        if text.startswith("Failed to load resource") and (url.endswith("/favicon.ico") or ERROR_PAGE in url):
            return
        tab.errors.append(text)


def _request(tab: Tab, r) -> None:
    if r.method != "GET":
        tab.posts.append((r.url, r.post_data_buffer))
        tab.sent.append((r.method, r.url, r.headers, r.post_data_buffer))
        tab.events.append(("post", r.url, r.post_data_buffer))


UPLOAD = re.compile(r"/uploads/([A-Za-z0-9_-]+)")


def browser_sent(tab: Tab) -> tuple[str, bytes, list[bytes]]:
    """What the page sent with JavaScript on (docs/uploads.md): the commit's URL and body, and
    each envelope as its parts put together, in the commit's order. Fails unless every other
    request was one of the upload protocol's."""
    parts: dict[str, bytearray] = {}
    commits = []
    for method, url, headers, body in tab.sent:
        path = url.removeprefix(tab.origin)
        m = UPLOAD.fullmatch(path)
        if (method, path) == ("POST", "/uploads") or (m and method in ("HEAD", "DELETE")):
            continue
        if m and method == "PATCH":
            assert body is not None and headers["content-type"] == "application/offset+octet-stream"
            offset = int(headers["upload-offset"])
            data = parts.setdefault(m[1], bytearray())
            data[offset : offset + len(body)] = body
            continue
        commits.append((url, body))
    ((url, body),) = commits
    form = parse_qs(body.decode(), strict_parsing=True)
    assert set(form) == {"csrf_token", "upload"}, form
    return url, body, [bytes(parts[i]) for i in form["upload"]]


@pytest.fixture
def open_tab(_browsers) -> Iterator[Callable[..., Tab]]:
    """open_tab(mode, server, **context options): mode is one of MODES, or "js-off"."""
    contexts = []

    def make(mode: str, srv: Server, record_bodies: bool = True, **options) -> Tab:
        if mode == "js-off":
            options["java_script_enabled"] = False
        context = _browsers(mode == "jitless").new_context(**options)
        contexts.append(context)
        if mode == "no-wasm":
            context.add_init_script("delete globalThis.WebAssembly")
        context.add_init_script(WATCH)
        page = context.new_page()
        page.set_default_timeout(120_000)
        tab = Tab(mode, page, srv.url)
        if record_bodies:
            # Chromium gives Playwright no body for an upload made of Blobs unless the
            # request is routed; a pass-through route makes post_data_buffer complete.
            page.route("**/*", lambda route: route.continue_())
        page.on("request", lambda r: tab.urls.append(r.url))
        page.on("request", lambda r: _request(tab, r))
        page.on("console", lambda m: _console(tab, m))
        page.on("pageerror", lambda e: tab.errors.append(f"pageerror: {e}"))
        return tab

    yield make
    for c in contexts:
        c.close()


# -- export and decrypt ----------------------------------------------------------------------


def export_and_decrypt(srv: Server, keydir: Path, work: Path) -> Path:
    """The real `tipline export`, then the real `tipline-offline decrypt`: the output folder."""
    return export_bundle_and_decrypt(srv.data_dir, keydir, work)


def submission_with(out: Path, marker: str) -> Path:
    (sub,) = [
        d
        for d in submission_folders(out).values()
        if (d / "message.txt").is_file() and marker in (d / "message.txt").read_text()
    ]
    return sub


def scan(marker: bytes, *folders: Path) -> list[str]:
    return [
        str(p) for folder in folders for p in folder.rglob("*") if p.is_file() and marker in p.read_bytes()
    ]


def send_tip(tab: Tab, message: str, files: list[Path]) -> None:
    tab.goto("/")
    tab.page.fill("#message", message)
    tab.page.set_input_files("#files", [str(f) for f in files])
    tab.page.click("#send")
    first_done(tab.page)


def first_done(page, timeout: float | None = None, heading: str | None = THANKS) -> str:
    """Wait for the end of a first tip: the codename, shown in the page (JavaScript on) or on the
    page the POST answered (off). Returns the codename. heading=None for a page in another
    language, whose heading is not English."""
    page.locator("#codename").wait_for(state="visible", timeout=timeout)
    if heading is not None:
        assert page.inner_text("h1") == heading
    words = page.inner_text("#codename").split()
    assert len(words) == 7, words
    # No language menu beside it: its links would leave the one page that ever shows the codename.
    assert page.locator("#languages").count() == 0
    return " ".join(words)


# -- Firefox ESR at Tor Browser's "Safer" prefs, through Marionette (tests/browser/firefox.py) -----


@pytest.fixture(scope="module")
def firefox_trap() -> Iterator[NetworkTrap]:
    """The proxy every Firefox of the module must leave untouched: what it was asked is a failure."""
    trap = NetworkTrap()
    yield trap
    trap.close()


@pytest.fixture(scope="module")
def _firefoxes(tmp_path_factory, firefox_trap) -> Iterator[Callable[[bool], Firefox]]:
    """Up to two firefox-esr processes per module: JavaScript on, and off (a second profile)."""
    try:
        marionette_driver()
    except ImportError:
        unavailable("marionette-driver is not installed (pip install -e '.[test]')")
    if not os.access(FIREFOX, os.X_OK):
        missing("firefox-esr")
    launched: dict[bool, Firefox] = {}

    def get(javascript: bool) -> Firefox:
        if javascript not in launched:
            extra = {} if javascript else {"javascript.enabled": False}
            work = tmp_path_factory.mktemp("firefox-js" if javascript else "firefox-nojs")
            launched[javascript] = launch(work, firefox_trap, extra)
        return launched[javascript]

    yield get
    for ff in launched.values():
        ff.close()
    assert all(ff.group_gone() for ff in launched.values()), "a Firefox process outlived its tests"


def _fresh_tab(ff: Firefox) -> Firefox:
    """A new tab, the others closed and no cookie left: each test starts as a new visitor."""
    client = ff.client
    old = client.window_handles
    client.switch_to_window(client.open(type="tab")["handle"])
    for handle in old:
        client.switch_to_window(handle)
        client.close()
    (handle,) = client.window_handles
    client.switch_to_window(handle)
    # Every site's cookies (WebDriver's delete_all_cookies only reaches the current page's).
    with client.using_context("chrome"):
        client.execute_script("Services.cookies.removeAll();")
    return ff


def _no_network_tried(ff: Firefox, trap: NetworkTrap) -> None:
    """Nothing went to the trap proxy, and nothing tried to connect past it (Necko logs that)."""
    assert trap.asked == [], f"Firefox tried to reach a network: {trap.asked}"
    assert "Non-local network connections are disabled" not in ff.log_path.read_text(errors="replace")


def _visit(ff: Firefox, trap: NetworkTrap) -> Iterator[Firefox]:
    """FF in a fresh tab for one test; fails the test if it tried the network meanwhile."""
    ff = _fresh_tab(ff)
    trap.asked.clear()
    yield ff
    _no_network_tried(ff, trap)


@pytest.fixture
def firefox(_firefoxes, firefox_trap) -> Iterator[Firefox]:
    """Firefox ESR at Safer with JavaScript on, in a fresh tab; fails the test if it tried the network."""
    yield from _visit(_firefoxes(True), firefox_trap)


@pytest.fixture
def firefox_js_off(_firefoxes, firefox_trap) -> Iterator[Firefox]:
    """Firefox ESR at Safer with javascript.enabled false (a second profile), in a fresh tab."""
    yield from _visit(_firefoxes(False), firefox_trap)


# -- uploads in parts (test_source_uploads*.py) -------------------------------------------------


@pytest.fixture
def fresh_site(tmp_path, keydir) -> Iterator[Server]:
    """A tip line of its own: its export holds this test's tip only."""
    srv = make_server(tmp_path / "site", keydir / "journalist.pub").start()
    yield srv
    srv.stop()


@pytest.fixture
def proxy(fresh_site) -> Iterator[Proxy]:
    """A TCP proxy on loopback before fresh_site, which a test can cut or stall (tests/browser/proxy.py)."""
    p = Proxy(fresh_site.port).start()
    yield p
    p.stop()
