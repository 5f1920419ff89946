"""Tipline behind deploy/torrc's onion services, on a private Tor network (harness.py), end to end.

A real Chromium, whose only way out is a client tor's SOCKS port, sends a
tip through the source onion with JavaScript on and off; the real `tipline
export` and `tipline-offline decrypt` give both back exactly. The journalist
onion answers only a Tor client that holds the key `tipline onion
client-auth` made. The apps see nothing but loopback peers and log no
address; Onion-Location names the source onion; the pages ask for nothing
outside the onion.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import time
from pathlib import Path

import pytest

from tests.conftest import export_and_decrypt, submission_folders
from tests.deploy.common import (
    DEPLOY,
    TORRC_JOURNALIST_DIR,
    TORRC_JOURNALIST_TARGET,
    TORRC_RUN_DIR,
    TORRC_SOURCE_DIR,
    TORRC_SOURCE_TARGET,
)

from .harness import (
    MISSING_CLIENT_AUTH,
    OnionHTTPConnection,
    SocksError,
    interfaces,
    listening_addresses,
    onion_request,
    tcp_peers,
)

THANKS = "Thank you. Your tip has arrived."
# Chromium treats http://*.onion as an untrustworthy origin (Tor Browser does not) and says, as a
# console error, that it ignores the Cross-Origin-Opener-Policy header: its only complaint.
CHROMIUM_COOP_NOTICE = "The Cross-Origin-Opener-Policy header has been ignored"


def test_everything_runs_in_the_private_namespace(netns, tor_site, browser):
    netns.check_inside()
    browser.call(netns.check_inside)
    assert interfaces() == ["lo"]
    listeners = listening_addresses()
    assert listeners and all(a.startswith("127.0.0.1:") for a in listeners), listeners
    # Every process we started (tor x8, both apps, Chromium) is in the namespace.
    pids = [t.proc.pid for t in tor_site.net.all_tors()]
    pids += [tor_site.source.proc.pid, tor_site.journalist.proc.pid]
    chromium = [p for p in _pids() if f"socks5://127.0.0.1:{browser.socks_port}" in _cmdline(p)]
    assert len(pids) == 10 and chromium
    for pid in pids + chromium:
        assert os.readlink(f"/proc/{pid}/ns/net") == netns.ident, pid


def test_service_torrc_is_deploy_torrc_rendered(tor_site):
    """The service tor ran deploy/torrc with only its folders and ports changed, PoW on."""
    shipped = (DEPLOY / "torrc").read_text()
    used = tor_site.service.torrc.read_text()
    hs = tor_site.service.torrc.parent
    expected = (
        shipped.replace(TORRC_SOURCE_DIR, str(hs / "hs-source"))
        .replace(TORRC_JOURNALIST_DIR, str(hs / "hs-journalist"))
        .replace(TORRC_SOURCE_TARGET, f"127.0.0.1:{tor_site.source.port}")
        .replace(TORRC_JOURNALIST_TARGET, f"127.0.0.1:{tor_site.journalist.port}")
        .replace(TORRC_RUN_DIR, str(hs / "run"))
    )
    assert used == expected
    assert used.count("\nHiddenServicePoWDefensesEnabled 1\n") == 2
    assert f'Read configuration file "{tor_site.service.torrc}"' in tor_site.service.log.read_text()


# -- a source, in Chromium, through Tor --------------------------------------------------------


def _send_tip(browser, origin: str, js: bool, message: str, files: list[Path]) -> dict:
    """In the browser thread: open the form, send a message and files, return what happened."""
    context = browser.new_context(java_script_enabled=js)
    seen: dict = {"urls": [], "errors": []}
    context.on("request", lambda r: seen["urls"].append(r.url))
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.on("pageerror", lambda e: seen["errors"].append(f"pageerror: {e}"))
        page.on(
            "console",
            lambda m: (
                seen["errors"].append(m.text)
                if m.type == "error"
                and not (m.location or {}).get("url", "").endswith("/favicon.ico")
                and not m.text.startswith(CHROMIUM_COOP_NOTICE)
                else None
            ),
        )
        page.goto(origin + "/")
        page.fill("#message", message)
        page.set_input_files("#files", [str(f) for f in files])
        page.click("#send")
        page.locator("#codename").wait_for(state="visible")
        seen["h1"] = page.inner_text("h1")
        seen["wasm"] = page.evaluate("typeof WebAssembly") if js else None
    finally:
        context.close()
    return seen


@pytest.mark.parametrize("js", [True, False], ids=["js-on", "js-off"])
def test_tip_through_the_onion_in_chromium(tor_site, browser, keydir, tmp_path, js):
    origin = f"http://{tor_site.source_onion}"
    marker = f"TORMARK-{'js' if js else 'nojs'}-{secrets.token_hex(8)}"
    message = f"A source writes through Tor, ünïcödé ✓\nsecond line {marker}"
    evidence = tmp_path / f"evidence-{marker}.bin"
    evidence.write_bytes(marker.encode() + b"\n" + os.urandom(200_000))

    seen = browser.call(_send_tip, browser.browser, origin, js, message, [evidence])
    assert seen["h1"] == THANKS
    assert seen["errors"] == []
    # The pages asked for nothing outside the onion (the proxy is the only way out anyway).
    assert all(u.startswith(origin + "/") for u in seen["urls"]), seen["urls"]
    paths = {u.removeprefix(origin) for u in seen["urls"]}
    assert {"/", "/static/style.css"} <= paths, paths
    if js:
        assert {"/static/js/submit.js", "/submit?sealed=browser"} <= paths, paths
    else:
        assert "/submit" in paths and not any(p.endswith(".js") for p in paths), paths

    out = export_and_decrypt(tor_site.source.data_dir, keydir, tmp_path)
    (sub,) = [d for d in submission_folders(out).values() if marker in (d / "message.txt").read_text()]
    # An HTML form sends line breaks as CRLF; the page's own script keeps the textarea's LF.
    expected = message if js else message.replace("\n", "\r\n")
    assert (sub / "message.txt").read_bytes() == expected.encode()
    assert (sub / "files" / evidence.name).read_bytes() == evidence.read_bytes()
    assert json.loads((sub / "items.json").read_text())["sealed_by"] == ("browser" if js else "server")


# -- headers and client authorization, over a SOCKS5 client ------------------------------------


def test_onion_location_names_the_onion(tor_site):
    r = onion_request(tor_site.client.socks_port, tor_site.source_onion, "GET", "/")
    assert r.status == 200
    assert r.headers.get("Onion-Location") == f"http://{tor_site.source_onion}/"
    r = onion_request(tor_site.client.socks_port, tor_site.source_onion, "GET", "/thanks")
    assert r.headers.get("Onion-Location") == f"http://{tor_site.source_onion}/thanks"


def test_journalist_onion_needs_the_client_auth_key(tor_site):
    onion = tor_site.journalist_onion
    # The key pair came from `tipline onion client-auth NAME --onion-address ADDR`.
    label = onion.removesuffix(".onion")
    assert f"{label}:descriptor:x25519:" in tor_site.client_auth_output
    # A Tor client without the key cannot even get past the descriptor (Tor's SOCKS5 reply 0xF4).
    deadline = time.monotonic() + 60
    while True:
        with pytest.raises(SocksError) as refused:
            onion_request(tor_site.client.socks_port, onion, "GET", "/login")
        if refused.value.code == MISSING_CLIENT_AUTH or time.monotonic() > deadline:
            break
        time.sleep(1)  # e.g. 0xF0 while the descriptor is fetched: ask again
    assert refused.value.code == MISSING_CLIENT_AUTH, refused.value
    # The same service, through the client that holds the key.
    r = onion_request(tor_site.auth_client.socks_port, onion, "GET", "/login")
    assert r.status == 200 and b"Journalist login" in r.body
    # And the key is no master key: the source onion still works for the keyless client.
    assert onion_request(tor_site.client.socks_port, tor_site.source_onion, "GET", "/").status == 200


# -- what the apps see and keep ------------------------------------------------------------------


def _addresses(line: str) -> list[str]:
    """Anything in LINE that parses as an IP address (with or without a port)."""
    found = []
    for token in re.findall(r"[0-9A-Fa-f:.]{3,}", line):
        for candidate in (token, token.rsplit(":", 1)[0], token.strip(":.")):
            try:
                ipaddress.ip_address(candidate)
            except ValueError:
                continue
            found.append(candidate)
            break
    return found


def test_apps_see_only_loopback_peers_and_log_no_address(tor_site):
    # Hold a keep-alive connection through Tor open, and look at the app's side of it.
    conn = OnionHTTPConnection(tor_site.source_onion, tor_site.client.socks_port)
    try:
        conn.request("GET", "/")
        assert conn.getresponse().read()
        peers = tcp_peers(tor_site.source.port)
    finally:
        conn.close()
    assert peers and set(peers) == {"127.0.0.1"}, peers

    for srv in (tor_site.source, tor_site.journalist):
        text = srv.log_path.read_text()
        bind_lines = [ln for ln in text.splitlines() if f"Listening at: http://127.0.0.1:{srv.port}" in ln]
        assert len(bind_lines) == 1, text
        others = [ln for ln in text.splitlines() if ln not in bind_lines and _addresses(ln)]
        assert others == [], others
        # No access log either: no request line, no user agent.
        assert "GET /" not in text and "HeadlessChrome" not in text and "Mozilla" not in text


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
