"""A browser upload over Tor survives its circuit being cut: the page retries, resumes, and the tip is whole.

Chromium (with WebAssembly), whose only way out is the client tor's SOCKS
port, sends a file of five 4 MiB parts through the source onion with the
page's pipelined upload (docs/uploads.md). Once the server holds part of it,
every circuit of the client tor to the onion is closed through the client's
control socket (circuits.py). Chromium resends a request that failed on a
reused connection once by itself, unseen by the page; so the circuits are cut
again while that resend is on its way, until the page itself sees the
connection fail. It must say it is retrying, ask the server what it holds
(HEAD) and go on from there, never sending a first part twice, and the real
`tipline export` and `tipline-offline decrypt` give back the file byte for
byte. About 15 s, plus 30 s for the module's Tor network.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from pathlib import Path

from tests.browser.conftest import THANKS, WATCH
from tests.conftest import export_and_decrypt, submission_folders

from .circuits import Circuit, close_circuits
from .harness import OnionHTTPConnection, onion_request

MIB = 1024 * 1024
FILE_BYTES = 16 * MIB + 12345  # 5 parts of 4 MiB
PART = 4 * MIB  # upload.js's part size (docs/uploads.md)
MAX_CUTS = 4


def test_closing_the_circuits_ends_an_open_connection(tor_site):
    """The cutter works: a connection through the onion ends at once, and a new one gets through."""
    conn = OnionHTTPConnection(tor_site.source_onion, tor_site.client.socks_port)
    try:
        conn.request("GET", "/")
        assert conn.getresponse().read()
        closed = close_circuits(tor_site.client.control, tor_site.source_onion)
        assert "HS_CLIENT_REND" in {c.purpose for c in closed}, closed
        conn.sock.settimeout(60)
        with contextlib.suppress(ConnectionResetError):
            assert conn.sock.recv(1) == b""  # tor ended the stream: the SOCKS connection closes
    finally:
        conn.close()
    assert onion_request(tor_site.client.socks_port, tor_site.source_onion, "GET", "/").status == 200


class Cutter(threading.Thread):
    """Once the server holds AT_LEAST bytes of the file, close every circuit to the onion, and again
    each time a resent part is on its way, until the page says it is retrying (at most MAX_CUTS).

    The first cut usually goes unseen by the page: Chromium resends a request that failed on a
    reused connection once by itself, on a new circuit. The next cut fails that resend, and the
    page's own retry (upload.js) takes over: that is what this test is about."""

    def __init__(self, tor_site, at_least: int, retrying: threading.Event) -> None:
        super().__init__(daemon=True)
        self.site, self.at_least, self.retrying = tor_site, at_least, retrying
        self.pending = tor_site.source.data_dir / "store" / "pending" / "uploads"
        self.held_at_cut: list[int] = []
        self.closed: list[Circuit] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def held(self) -> int:
        """The largest pending upload's size: the file's envelope (the message's is small)."""
        sizes = [0]
        for p in self.pending.glob("*") if self.pending.is_dir() else ():
            if "." not in p.name:
                with contextlib.suppress(OSError):
                    sizes.append(p.stat().st_size)
        return max(sizes)

    def _wait(self, ready) -> bool:
        deadline = time.monotonic() + 240
        while not (self.stop.is_set() or self.retrying.is_set()) and time.monotonic() < deadline:
            if ready():
                return True
            time.sleep(0.02)
        return False

    def run(self) -> None:
        try:
            if not self._wait(lambda: self.held() >= self.at_least):
                return
            while len(self.held_at_cut) < MAX_CUTS:
                cut_at = self.held()
                self.held_at_cut.append(cut_at)
                self.closed += close_circuits(self.site.client.control, self.site.source_onion)
                # The server cuts the broken part off (back to its start), then a resend grows it again.
                start = cut_at - cut_at % PART
                if not self._wait(lambda: self.held() < cut_at):  # noqa: B023 (called at once)
                    return
                if not self._wait(lambda: self.held() >= start + 256 * 1024):  # noqa: B023
                    return
        except BaseException as e:  # seen by the test
            self.error = e


def _send(browser, origin: str, message: str, file: Path, retrying: threading.Event) -> dict:
    """In the browser thread: send MESSAGE and FILE with JavaScript on; what the page showed and asked."""
    context = browser.new_context()
    seen: dict = {"progress": [], "requests": [], "errors": []}
    context.add_init_script(WATCH)

    def console(m) -> None:
        if m.text.startswith("progress: "):
            seen["progress"].append(m.text.removeprefix("progress: "))
            if m.text.startswith("progress: Connection lost. Retrying in"):
                retrying.set()

    def request(r) -> None:
        if r.url.startswith(origin + "/uploads"):
            seen["requests"].append((r.method, r.url, r.headers.get("upload-offset")))

    try:
        page = context.new_page()
        page.set_default_timeout(300_000)
        page.on("console", console)
        page.on("pageerror", lambda e: seen["errors"].append(str(e)))
        context.on("request", request)
        page.goto(origin + "/")
        page.wait_for_function("document.getElementById('tip-form').dataset.crypto === 'ready'")
        page.fill("#message", message)
        page.set_input_files("#files", [str(file)])
        page.click("#send")
        page.locator("#codename").wait_for(state="visible")
        seen["h1"] = page.inner_text("h1")
    finally:
        context.close()
    return seen


def test_upload_resumes_after_the_circuit_is_cut(tor_site, browser, keydir, tmp_path):
    marker = f"CUTMARK-{secrets.token_hex(8)}"
    evidence = tmp_path / f"evidence-{marker}.bin"
    evidence.write_bytes(marker.encode() + os.urandom(FILE_BYTES - len(marker)))
    retrying = threading.Event()
    cutter = Cutter(tor_site, at_least=PART + PART // 2, retrying=retrying)  # the second part is on its way
    cutter.start()
    try:
        seen = browser.call(
            _send, browser.browser, f"http://{tor_site.source_onion}", marker, evidence, retrying
        )
    finally:
        cutter.stop.set()
        cutter.join()
    assert cutter.error is None, cutter.error
    assert cutter.closed and all(0 < n < FILE_BYTES for n in cutter.held_at_cut), cutter.held_at_cut
    assert seen["h1"] == THANKS and seen["errors"] == []
    print(f"circuits cut {len(cutter.held_at_cut)} times, with the server holding {cutter.held_at_cut}")
    assert retrying.is_set(), sorted(set(seen["progress"]))
    # Resumed, not restarted: the page asked what the server holds (HEAD), and sent no upload's
    # first part twice.
    methods = [m for m, _, _ in seen["requests"]]
    assert "HEAD" in methods, seen["requests"]
    after_head = [offset for m, _, offset in seen["requests"][methods.index("HEAD") :] if m == "PATCH"]
    assert after_head and int(after_head[0]) > 0, seen["requests"]
    firsts = [url for method, url, offset in seen["requests"] if method == "PATCH" and offset == "0"]
    assert len(firsts) == len(set(firsts)), seen["requests"]

    out = export_and_decrypt(tor_site.source.data_dir, keydir, tmp_path)
    (sub,) = [d for d in submission_folders(out).values() if marker in (d / "message.txt").read_text()]
    assert (sub / "files" / evidence.name).read_bytes() == evidence.read_bytes()
