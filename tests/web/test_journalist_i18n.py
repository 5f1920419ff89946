"""The journalist app is translatable: a real catalog for a language it does not ship, served by gunicorn.

The journalist app ships English only (tipline/web/translations/journalist/messages.pot), so
these tests make a German catalog in a temporary folder from that template, compile it with
Babel, and point a real `tipline serve --app journalist` at it with the translations_dir setting.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tests.web.logins import PASSPHRASE, csrf_pair, enrol, post
from tests.web.server import Server, make_server

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "tipline/web/translations"
POT = TRANSLATIONS / "journalist/messages.pot"

GERMAN = {
    "Journalist login": "Anmeldung für Journalisten",
    "Code from your authenticator app": "Code aus Ihrer Authenticator-App",
    "Log in": "Anmelden",
    "That name, passphrase and code did not work together. Check them and try again.": (
        "Name, Passphrase und Code passen nicht zusammen. Prüfen Sie sie und versuchen Sie es noch einmal."
    ),
    "Conversations and submissions": "Gespräche und Einsendungen",
    "Log out %(me)s": "%(me)s abmelden",
    ("There is %(num)s conversation.", "There are %(num)s conversations."): (
        "Es gibt %(num)s Gespräch.",
        "Es gibt %(num)s Gespräche.",
    ),
}


def german_catalog(folder: Path) -> Path:
    """The journalist .pot with GERMAN's entries filled in, compiled where the app looks for it."""
    with POT.open("rb") as f:
        catalog = read_po(f, locale="de")
    filled = 0
    for message in catalog:
        if message.id in GERMAN:
            message.string = GERMAN[message.id]
            filled += 1
    assert filled == len(GERMAN), "an entry of GERMAN is missing from the journalist .pot"
    mo = folder / "journalist/de/LC_MESSAGES/messages.mo"
    mo.parent.mkdir(parents=True)
    with mo.open("wb") as f:
        write_mo(f, catalog)
    return folder


@pytest.fixture(scope="module")
def german(tmp_path_factory, keydir):
    """The journalist app, serving its plain English pages and the same pages under /de/."""
    base = tmp_path_factory.mktemp("journalist-i18n")
    translations = german_catalog(base / "translations")
    srv = make_server(base, keydir / "journalist.pub")
    srv.data_dir.joinpath("tipline.toml").write_text(f'translations_dir = "{translations}"\n')
    srv.start("--app", "journalist")
    yield srv
    srv.stop()


def html_lang(page: str) -> tuple[str, str]:
    m = re.search(r'<html lang="([^"]+)" dir="([^"]+)">', page)
    assert m, "no <html lang dir>"
    return m.group(1), m.group(2)


def test_login_page_in_the_test_language(german: Server):
    r = german.get("/de/login")
    page = r.body.decode()
    assert r.status == 200 and html_lang(page) == ("de", "ltr")
    assert r.header("Content-Language") == "de"
    assert '<label for="code">Code aus Ihrer Authenticator-App</label>' in page
    assert "<h1>Anmeldung für Journalisten</h1>" in page and ">Anmelden</button>" in page
    assert "authenticator app" not in page
    # The language menu offers both, each named in itself, with hreflang.
    assert 'href="/de/login" hreflang="de"' in page and 'href="/en/login" hreflang="en"' in page
    assert ">Deutsch</a>" in page


def test_plain_address_stays_english(german: Server):
    page = german.get("/login").body.decode()
    assert html_lang(page) == ("en", "ltr")
    assert '<label for="code">Code from your authenticator app</label>' in page


def test_a_view_message_and_a_plural_in_the_test_language(german: Server, tmp_path):
    """The view's gettext (a refused login) and the list's ngettext both come from the catalog."""
    cookie, token = csrf_pair(german, "/de/login")
    fields = {"csrf_token": token, "name": "nobody", "passphrase": "wrong", "code": "000000"}
    r = post(german, "/de/login", fields, {"tipline_csrf": cookie})
    assert r.status == 401
    assert "Name, Passphrase und Code passen nicht zusammen." in r.body.decode()

    name, totp, _ = enrol(german.data_dir, "ana", tmp_path)
    cookie, token = csrf_pair(german, "/de/login")
    fields = {"csrf_token": token, "name": name, "passphrase": PASSPHRASE, "code": totp.now()}
    german.cookies.clear()
    assert post(german, "/de/login", fields, {"tipline_csrf": cookie}).status == 303
    r = german.get("/de/")  # with the session cookie the login set
    page = r.body.decode()
    assert r.status == 200 and html_lang(page) == ("de", "ltr")
    assert "<h1>Gespräche und Einsendungen</h1>" in page and "ana abmelden" in page
    assert "Es gibt 0 Gespräche." in page  # the plural form, for 0 in German as in English


def extracted(cfg: Path) -> set[str | tuple[str, ...]]:
    """Every msgid that `./dev catalogs` would extract with this mapping, by Babel's own API."""
    with cfg.open() as f:
        method_map, options_map = parse_mapping_cfg(f, str(cfg))
    for pattern, method in method_map:
        if method == "jinja2":
            options_map[pattern]["silent"] = "false"  # a template that does not parse fails here
    keywords = {**DEFAULT_KEYWORDS, "J_": None}  # ./dev catalogs: -k J_
    return {
        msgid
        for _file, _line, msgid, _comments, _ctx in extract_from_dir(ROOT, method_map, options_map, keywords)
    }


def test_the_journalist_pot_is_current():
    """Every msgid of the .pot is still in the code, and every sentence of the code is in the .pot."""
    with POT.open("rb") as f:
        committed = {m.id for m in read_po(f) if m.id}
    found = extracted(TRANSLATIONS / "journalist.cfg")
    assert not committed - found, f"in the .pot, no longer in the code: {sorted(map(str, committed - found))}"
    assert not found - committed, (
        f"in the code, not in the .pot (run ./dev catalogs): {sorted(map(str, found - committed))}"
    )
