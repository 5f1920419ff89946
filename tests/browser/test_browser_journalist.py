"""The journalist side in Chromium: log in with a real TOTP code, download a bundle, decrypt it, delete.

Also axe-core on every journalist page: journalists deserve accessible pages too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import decrypt_with, run_tipline, submission_folders, unavailable
from tests.web.server import Server, free_port, make_server

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_RUN = """async () => {
  const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa"]}});
  return r.violations.map((v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", "));
}"""
PASSPHRASE = "orbit velvet canyon maple ticket frozen lantern"


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory, keydir):
    base = tmp_path_factory.mktemp("newsroom")
    source = make_server(base, keydir / "journalist.pub")
    (base / "pw").write_text(PASSPHRASE + "\n")
    totp = {}
    for name in ("ana", "ben"):  # one each: a TOTP code works once, and both tests log in
        out = run_tipline(
            "journalist",
            "add",
            name,
            "--data-dir",
            str(source.data_dir),
            "--passphrase-file",
            str(base / "pw"),
        ).stdout
        totp[name] = pyotp.parse_uri(next(ln for ln in out.splitlines() if ln.startswith("otpauth://")))
    source.start()
    journalist = Server(source.data_dir, source.tmp_dir, base / "journalist.log", free_port())
    journalist.start("--app", "journalist")
    yield source, journalist, totp
    source.stop()
    journalist.stop()


@pytest.fixture(scope="module")
def browser(playwright_instance):
    b = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


def test_journalist_flow_in_chromium(newsroom, browser, keydir, tmp_path):
    source, journalist, totp = newsroom
    token = source.csrf_token()
    assert (
        source.post_form(
            [("csrf_token", token), ("message", "for ana's eyes")],
            [("files", "ledger.csv", b"a,b\n1,2\n", "text/csv")],
        ).status
        == 200
    )

    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(journalist.url + "/")
    assert page.url.endswith("/login")
    page.fill("#name", "ana")
    page.fill("#passphrase", PASSPHRASE)
    page.fill("#code", totp["ana"].now())
    page.click("button[type=submit]")
    page.wait_for_selector("table")
    assert "new" in page.inner_text("table")

    page.check("input[name=id]")
    with page.expect_download() as dl:
        page.click("button:has-text('Download selected')")
    bundle = tmp_path / "bundle.tar"
    dl.value.save_as(bundle)
    assert re.fullmatch(r"tipline-\d{4}-\d\d-\d\dT\d{4}Z-1\.tar", dl.value.suggested_filename)
    r = decrypt_with(keydir, tmp_path / "out", bundle)
    assert r.returncode == 0, r.stderr
    (sub,) = submission_folders(tmp_path / "out").values()
    assert (sub / "message.txt").read_text() == "for ana's eyes"
    assert (sub / "files" / "ledger.csv").read_bytes() == b"a,b\n1,2\n"

    page.reload()
    assert "ana (" in page.inner_text("table")  # now marked as downloaded, by whom
    page.check("input[name=id]")
    page.click("button:has-text('Delete selected')")
    page.click("button:has-text('Delete for good')")
    assert "Deleted 1 submission" in page.inner_text("main")
    assert list((source.data_dir / "store" / "submissions").iterdir()) == []
    page.click("text=Back to the list")
    page.click("button:has-text('Log out')")
    assert page.url.endswith("/login")
    page.goto(journalist.url + "/")
    assert page.url.endswith("/login")  # the session really ended
    assert violations == []
    context.close()


def test_journalist_pages_pass_axe(newsroom, browser):
    if not AXE.is_file():
        unavailable(f"{AXE} is missing (run `npm ci`)")
    source, journalist, totp = newsroom
    token = source.csrf_token()
    assert source.post_form([("csrf_token", token), ("message", "axe")]).status == 200
    # bypass_csp only so axe can be injected; the pages themselves carry no inline code.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    axe = AXE.read_text("utf-8")

    def check(what: str) -> None:
        page.add_script_tag(content=axe)
        assert page.evaluate(AXE_RUN) == [], what

    page.goto(journalist.url + "/login")
    check("login")
    page.fill("#name", "ben")
    page.fill("#passphrase", "wrong " + PASSPHRASE)
    page.fill("#code", "000000")
    page.click("button[type=submit]")
    check("login with an error")
    page.goto(journalist.url + "/login")
    page.fill("#name", "ben")
    page.fill("#passphrase", PASSPHRASE)
    page.fill("#code", totp["ben"].now())
    page.click("button[type=submit]")
    page.wait_for_selector("table")
    check("list")
    page.check("input[name=id]")
    page.click("button:has-text('Delete selected')")
    check("delete confirmation")
    page.click("button:has-text('Delete for good')")
    assert "Deleted 1 submission" in page.inner_text("main")
    check("delete done")
    context.close()
