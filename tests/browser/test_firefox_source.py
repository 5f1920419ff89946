"""The source page in Firefox ESR at Tor Browser's "Safer" prefs, against a real `tipline serve`.

Tor Browser is Firefox ESR; Safer turns off both JITs and WebAssembly, so libsodium runs its
plain-JS build, as in jitless Chromium (tests/browser/firefox.py has the prefs). A source sends
a message and a file; the page seals them (the server records sealed_by=browser), the real
`tipline export` and `tipline-offline decrypt` give them back byte for byte, and the codename
the page showed opens the conversation and its reply. A file whose envelope is three parts goes
through the resumable upload path (docs/uploads.md: one upload per item, sent in parts, then one
commit) and decrypts byte for byte. Without JavaScript (a second profile) the
same form posts and the server seals. No test may make Firefox try any network: each checks the
trap proxy was asked nothing, and the first checks the prefs and that the trap would see a try.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter

import pytest

from tests.browser.conftest import THANKS, export_and_decrypt, scan, submission_with
from tests.browser.firefox import OFFLINE, SAFER, Firefox, NetworkTrap, marionette_driver
from tests.web.conversations import add_reply, conversation, store
from tests.web.server import Server

LONG = 180  # s: sodium.js and sodium-sumo.js start slowly without a JIT


def wait_for(ff: Firefox, script: str, timeout: float = LONG) -> object:
    """Wait until SCRIPT (a JS expression) is truthy in the page; returns its value."""
    return (
        marionette_driver()
        .wait.Wait(ff.client, timeout=timeout, interval=0.2)
        .until(lambda m: m.execute_script(f"return {script};"), message=f"waiting for {script}")
    )


def text_of(ff: Firefox, selector: str) -> str:
    return ff.client.find_element("css selector", selector).text


def type_into(ff: Firefox, selector: str, text: str) -> None:
    ff.client.find_element("css selector", selector).send_keys(text)


def codename_shown(ff: Firefox) -> str:
    """The seven words of a first tip, once the page (or the POST's answer) shows them."""
    found = (
        marionette_driver()
        .wait.Wait(ff.client, timeout=LONG, interval=0.2)
        .until(
            lambda m: [e for e in m.find_elements("css selector", "#codename") if e.text.strip()],
            message="waiting for the codename",
        )
    )
    assert found
    assert text_of(ff, "h1") == THANKS
    words = text_of(ff, "#codename").split()
    assert len(words) == 7, words
    return " ".join(words)


def test_safer_prefs_hold_and_nothing_reaches_a_network(firefox, firefox_trap: NetworkTrap, site: Server):
    client = firefox.client
    with client.using_context("chrome"):
        read = client.execute_script(
            """
            const out = {};
            for (const name of arguments[0]) {
              const t = Services.prefs.getPrefType(name);
              out[name] = t === Services.prefs.PREF_BOOL ? Services.prefs.getBoolPref(name)
                : t === Services.prefs.PREF_INT ? Services.prefs.getIntPref(name)
                : t === Services.prefs.PREF_STRING ? Services.prefs.getStringPref(name) : null;
            }
            return out;
            """,
            script_args=([*SAFER, *OFFLINE],),
        )
    assert read == {**SAFER, **OFFLINE, "marionette.port": read["marionette.port"]}
    client.navigate(site.url + "/")
    assert client.execute_script("return typeof WebAssembly") == "undefined"
    # The trap sees what would have left: a page on another host is asked of it, not of the network.
    client.navigate("http://trap-check.invalid/")
    assert firefox_trap.asked[0] == "GET http://trap-check.invalid/ HTTP/1.1"
    assert all("//trap-check.invalid/" in line for line in firefox_trap.asked)  # and its favicon
    firefox_trap.asked.clear()


def test_tip_sealed_in_firefox_at_safer_decrypts_and_its_codename_reads_a_reply(
    firefox, site: Server, keydir, tmp_path
):
    marker = f"FIREFOX-{secrets.token_hex(8)}"
    message = f"A source at Safer, ünïcödé ✓\nsecond line {marker}"
    evidence = tmp_path / f"scan-{marker}.bin"
    evidence.write_bytes(f"{marker}\n".encode() + os.urandom(100_000))

    client = firefox.client
    client.navigate(site.url + "/")
    wait_for(firefox, "document.getElementById('tip-form').dataset.crypto === 'ready'")
    type_into(firefox, "#message", message)
    type_into(firefox, "#files", str(evidence))
    client.find_element("css selector", "#send").click()
    words = codename_shown(firefox)
    assert client.get_url() == site.url + "/"  # shown in the page: the JavaScript path, no navigation
    assert client.execute_script("return typeof WebAssembly") == "undefined"

    sub = submission_with(export_and_decrypt(site, keydir, tmp_path / "out"), marker)
    assert (sub / "message.txt").read_bytes() == message.encode()
    assert (sub / "files" / evidence.name).read_bytes() == evidence.read_bytes()
    assert json.loads((sub / "items.json").read_text())["sealed_by"] == "browser"
    assert scan(marker.encode(), site.data_dir, site.tmp_dir) == []
    assert [e.kind for e in store(site).thread(conversation(site, words).id)] == ["submission"]

    # The words the page made open the conversation in the same browser (sodium-sumo.js at Safer).
    reply = f"A question from the newsroom, ünïcödé {secrets.token_hex(6)}"
    add_reply(site, keydir, words, reply)
    client.navigate(site.url + "/conversation")
    type_into(firefox, "#codename-entry", words)
    client.find_element("css selector", "#open").click()
    wait_for(firefox, "document.querySelector('#replies .reply .reply-text')")
    assert [e.text for e in client.find_elements("css selector", "#replies .reply .reply-text")] == [reply]


def test_tip_without_javascript_in_firefox(firefox_js_off, site: Server, keydir, tmp_path):
    marker = f"FIREFOX-NOJS-{secrets.token_hex(8)}"
    note = tmp_path / "note.txt"
    note.write_bytes(f"a note {marker}\n".encode())
    client = firefox_js_off.client
    client.navigate(site.url + "/")
    type_into(firefox_js_off, "#message", f"no script {marker}")
    type_into(firefox_js_off, "#files", str(note))
    client.find_element("css selector", "#send").click()
    codename_shown(firefox_js_off)
    assert client.get_url() == site.url + "/submit"  # the POST's own answer

    sub = submission_with(export_and_decrypt(site, keydir, tmp_path / "out"), marker)
    assert (sub / "message.txt").read_bytes() == f"no script {marker}".encode()
    assert (sub / "files" / "note.txt").read_bytes() == note.read_bytes()
    assert json.loads((sub / "items.json").read_text())["sealed_by"] == "server"
    assert scan(marker.encode(), site.data_dir, site.tmp_dir) == []


# -- the upload path: an envelope of several parts (docs/uploads.md) ------------------------------

PART = 4 << 20  # upload.js sends parts of 4 MiB
# Every request the page made to the upload protocol: [url, initiator], from Resource Timing.
UPLOAD_REQUESTS = """return performance.getEntriesByType("resource")
  .filter((e) => new URL(e.name).pathname.startsWith("/uploads"))
  .map((e) => [new URL(e.name).pathname, e.initiatorType]);"""


@pytest.mark.slow  # sealing 8 MiB without a JIT: 25 to 55 s on a busy 2-core machine
def test_file_of_several_parts_sent_in_parts_at_safer_decrypts(firefox, site: Server, keydir, tmp_path):
    marker = f"FIREFOX-PARTS-{secrets.token_hex(8)}"
    big = tmp_path / f"video-{marker}.bin"
    big.write_bytes(f"{marker}\n".encode() + os.urandom(2 * PART))  # its envelope: three parts
    client = firefox.client
    client.navigate(site.url + "/")
    wait_for(firefox, "document.getElementById('tip-form').dataset.crypto === 'ready'")
    type_into(firefox, "#message", marker)
    type_into(firefox, "#files", str(big))
    pending = site.data_dir / "store" / "pending" / "uploads"
    done_before = set(pending.glob("*.done"))
    client.find_element("css selector", "#send").click()
    codename_shown(firefox)

    # Two uploads made and committed, the message's and the file's, and the file's took three
    # requests or more (its parts; a HEAD too if one was resumed): the tus path, not one POST.
    assert len(set(pending.glob("*.done")) - done_before) == 2
    requests = client.execute_script(UPLOAD_REQUESTS)
    assert all(kind == "xmlhttprequest" for _, kind in requests), requests
    assert [p for p, _ in requests].count("/uploads") == 2  # the two creations
    per_upload = Counter(p for p, _ in requests if p != "/uploads")
    assert len(per_upload) == 2 and max(per_upload.values()) >= 3, requests

    sub = submission_with(export_and_decrypt(site, keydir, tmp_path / "out"), marker)
    assert (sub / "message.txt").read_bytes() == marker.encode()
    assert (sub / "files" / big.name).read_bytes() == big.read_bytes()
    assert json.loads((sub / "items.json").read_text())["sealed_by"] == "browser"
    assert scan(marker.encode(), site.data_dir, site.tmp_dir) == []
