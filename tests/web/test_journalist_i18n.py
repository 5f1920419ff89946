"""The journalist app is translatable: a real catalog for a language it does not ship, served by gunicorn.

The journalist app ships English only (tipline/web/translations/journalist/messages.pot), so
these tests make a German catalog in a temporary folder from that template, compile it with
Babel, and point a real `tipline serve --app journalist` at it with the translations_dir setting.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tests.web.logins import PASSPHRASE, csrf_pair, post
from tests.web.newsroom import Newsroom, login, start_newsroom, token_of

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "tipline/web/translations"
POT = TRANSLATIONS / "journalist/messages.pot"

# A few entries of each kind: a template's _(), a {% trans %} with a placeholder and a plural,
# a view's gettext, and sentences shown in attributes, with the quotes a translator may type.
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
    "Select submission %(id)s": 'Einsendung "%(id)s" auswählen',
    "Your browser is getting ready to encrypt your reply before it is sent.": (
        'Ihr Browser bereitet sich vor, Ihre Antwort zu verschlüsseln, bevor sie "gesendet" wird.'
    ),
    "Send reply": "Antwort senden",
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
def room(tmp_path_factory, keydir):
    """Both apps on one data folder; the journalist app has a German catalog besides English."""
    base = tmp_path_factory.mktemp("journalist-i18n")
    translations = german_catalog(base / "translations")
    nr = start_newsroom(base, keydir, f'translations_dir = "{translations}"\n')
    yield nr
    nr.stop()


class Attributes(HTMLParser):
    """The attributes of every element that has an id, as a browser reads them (entities decoded)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.by_id[found["id"]] = found  # type: ignore[index]


def html_lang(page: str) -> tuple[str, str]:
    m = re.search(r'<html lang="([^"]+)" dir="([^"]+)">', page)
    assert m, "no <html lang dir>"
    return m.group(1), m.group(2)


def test_login_page_in_the_test_language(room: Newsroom):
    r = room.journalist.get("/de/login")
    page = r.body.decode()
    assert r.status == 200 and html_lang(page) == ("de", "ltr")
    assert r.header("Content-Language") == "de"
    assert '<label for="code">Code aus Ihrer Authenticator-App</label>' in page
    assert "<h1>Anmeldung für Journalisten</h1>" in page and ">Anmelden</button>" in page
    assert "authenticator app" not in page
    # The language menu offers both, each named in itself, with hreflang.
    assert 'href="/de/login" hreflang="de"' in page and 'href="/en/login" hreflang="en"' in page
    assert ">Deutsch</a>" in page


def test_the_plain_address_stays_english(room: Newsroom):
    page = room.journalist.get("/login").body.decode()
    assert html_lang(page) == ("en", "ltr")
    assert '<label for="code">Code from your authenticator app</label>' in page


def test_a_refused_login_says_why_in_the_test_language(room: Newsroom):
    j = room.journalist
    cookie, token = csrf_pair(j, "/de/login")
    fields = {"csrf_token": token, "name": "nobody", "passphrase": "wrong", "code": "000000"}
    r = post(j, "/de/login", fields, {"tipline_csrf": cookie})
    assert r.status == 401
    assert "Name, Passphrase und Code passen nicht zusammen." in r.body.decode()


def test_the_list_and_a_conversation_in_the_test_language(room: Newsroom):
    """A plural, a placeholder, and sentences in attributes whose quotes stay inside them."""
    cid, _source = room.open_conversation("guten Tag")
    name = room.enrol("ana")
    login(room.journalist, name, room.totp[name])

    page = room.journalist.get("/de/").body.decode()
    assert html_lang(page) == ("de", "ltr")
    assert "<h1>Gespräche und Einsendungen</h1>" in page and "ana abmelden" in page
    assert "Es gibt 1 Gespräch." in page  # singular: the first one this module opens
    (sid,) = re.findall(r'<tr class="submission" data-submission-id="([^"]+)"', page)
    assert Attributes(page).by_id[f"sel-{sid}"]["aria-label"] == f'Einsendung "{sid}" auswählen'

    page = room.journalist.get(f"/de/conversations/{cid}").body.decode()
    form = Attributes(page).by_id["reply-form"]
    assert (
        form["data-note-loading"]
        == GERMAN["Your browser is getting ready to encrypt your reply before it is sent."]
    )
    assert form["data-recipients"] and form["data-max-bytes"] == "65536"  # the attributes after it survive
    assert ">Antwort senden</button>" in page


def addresses(page: str) -> list[str]:
    """Every link and form address of the page's main part (not the language menu, not /static)."""
    main = page.split("<main", 1)[1]
    return re.findall(r'(?:href|action|formaction|data-envelope-action)="(/[^"]*)"', main)


def test_the_language_survives_every_link_form_and_redirect(room: Newsroom):
    """A journalist reading German stays in German: the login, the list, a conversation, a refusal."""
    j = room.journalist
    cid, _source = room.open_conversation("auf Deutsch bleiben")
    name = room.enrol("bo")
    j.cookies.clear()
    cookie, token = csrf_pair(j, "/de/login")
    fields = {"csrf_token": token, "name": name, "passphrase": PASSPHRASE, "code": room.totp[name].now()}
    r = post(j, "/de/login", fields, {"tipline_csrf": cookie})
    assert r.status == 303 and r.header("Location") == "/de/"
    assert any(k.endswith("tipline-session") for k in j.cookies)  # the jar keeps the login's cookie
    for path in ("/de/", f"/de/conversations/{cid}"):
        found = addresses(j.get(path).body.decode())
        assert found and all(a.startswith("/de/") for a in found), (path, found)
    r = j.request("GET", "/de/", cookies=False)
    assert r.status == 303 and r.header("Location") == "/de/login"
    token = token_of(j, f"/de/conversations/{cid}")
    r = j.post_urlencoded(f"/de/conversations/{cid}/reply", {"csrf_token": token, "message": "Danke"})
    assert r.status == 303 and r.header("Location") == f"/de/conversations/{cid}?sent=1"


def extracted(cfg: Path) -> set[str | tuple[str, ...]]:
    """Every msgid that `./dev catalogs` would extract with this mapping, by Babel's own API."""
    with cfg.open() as f:
        method_map, options_map = parse_mapping_cfg(f, str(cfg))
    for pattern, method in method_map:
        if method == "jinja2":
            options_map[pattern]["silent"] = "false"  # a template that does not parse fails here
    keywords = {**DEFAULT_KEYWORDS, "J_": None}  # ./dev catalogs: -k J_
    found = extract_from_dir(ROOT, method_map, options_map, keywords)
    return {msgid for _file, _line, msgid, _comments, _context in found}


def test_the_journalist_pot_is_current():
    """Every msgid of the .pot is still in the code, and every sentence of the code is in the .pot."""
    with POT.open("rb") as f:
        committed = {m.id for m in read_po(f) if m.id}
    found = extracted(TRANSLATIONS / "journalist.cfg")
    stale, missing = sorted(map(str, committed - found)), sorted(map(str, found - committed))
    assert not stale, f"in the .pot, no longer in the code (run ./dev catalogs): {stale}"
    assert not missing, f"in the code, not in the .pot (run ./dev catalogs): {missing}"
