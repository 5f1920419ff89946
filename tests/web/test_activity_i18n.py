"""The activity page in another language: a German catalog made from the journalist .pot."""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tests.web.logins import csrf_pair, post
from tests.web.newsroom import login, start_newsroom
from tests.web.test_journalist_i18n import POT, addresses, html_lang

GERMAN = {
    "Activity log": "Aktivitätsprotokoll",
    "Failed login": "Fehlgeschlagene Anmeldung",
    "Logged in": "Angemeldet",
    "(unknown name)": "(unbekannter Name)",
    "Every action": "Jede Aktion",
    "Show": "Anzeigen",
}


def catalog(folder: Path) -> Path:
    with POT.open("rb") as f:
        cat = read_po(f, locale="de")
    filled = [m.id for m in cat if m.id in GERMAN]
    for message in cat:
        if message.id in GERMAN:
            message.string = GERMAN[message.id]
    assert sorted(filled) == sorted(GERMAN), "an entry is missing from the journalist .pot"
    mo = folder / "journalist/de/LC_MESSAGES/messages.mo"
    mo.parent.mkdir(parents=True)
    with mo.open("wb") as f:
        write_mo(f, cat)
    return folder


def test_activity_page_in_the_test_language(tmp_path, keydir):
    room = start_newsroom(tmp_path, keydir, f'translations_dir = "{catalog(tmp_path / "translations")}"\n')
    try:
        j = room.journalist
        cookie, token = csrf_pair(j, "/de/login")
        fields = {"csrf_token": token, "name": "niemand", "passphrase": "x", "code": "000000"}
        assert post(j, "/de/login", fields, {"tipline_csrf": cookie}).status == 401
        name = room.enrol("ana")
        login(j, name, room.totp[name])
        assert 'href="/de/activity">Aktivitätsprotokoll</a>' in j.get("/de/").body.decode()
        page = j.get("/de/activity").body.decode()
        assert html_lang(page) == ("de", "ltr") and "<h1>Aktivitätsprotokoll</h1>" in page
        for text in (
            "<td>Fehlgeschlagene Anmeldung</td>",
            "<td>(unbekannter Name)</td>",
            "<td>Angemeldet</td>",
        ):
            assert text in page, text
        assert ">Jede Aktion</option>" in page and ">Anzeigen</button>" in page
        found = addresses(page)
        assert found and all(a.startswith("/de/") for a in found), found
    finally:
        room.stop()
