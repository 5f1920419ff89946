"""The language is part of the address, over real HTTP: every source page at /es/ and /ar/, marked
with its language and direction, with a menu that keeps the page, and links and forms that keep the
language through the whole flow with JavaScript off (docs/translating.md).

Accept-Language is only a first guess, and only for `/`: Tor Browser asks for English whatever its
user reads, so a choice made in the address always wins.
"""

from __future__ import annotations

import base64
import json
import os

import pytest

from tests.web.catalogs import ROOT, TRANSLATIONS, read, shown
from tests.web.conversations import CODENAME, TOKEN
from tests.web.pagelinks import page_links
from tests.web.server import make_server, multipart
from tests.web.sourcepages import (
    GET_PATHS,
    LANGS,
    MAX_UPLOAD_MB,
    MENU_TO_FORM,
    NO_MENU,
    Visit,
    fetch,
    present,
)
from tipline.web import i18n
from tipline.web.app import MESSAGES
from tipline.web.conversation import NOT_FOUND, SESSION_OVER


def english_words_advice() -> str:
    """The codename page's note, shown only in other languages, that the words are English."""
    pot = read(ROOT / TRANSLATIONS / "source" / "messages.pot")
    (msgid,) = [m.id for m in pot if str(m.id).startswith("The words are in English.")]
    return msgid


NAMES = {"en": "English", "es": "Español", "ar": "العربية"}  # each language named in itself
DIRECTION = {"en": "ltr", "es": "ltr", "ar": "rtl"}


@pytest.fixture(scope="module")
def visit(tmp_path_factory, keydir):
    srv = make_server(tmp_path_factory.mktemp("language-urls"), keydir / "journalist.pub")
    srv.start("--max-upload-mb", str(MAX_UPLOAD_MB))
    yield Visit(srv, keydir)
    srv.stop()


def test_the_three_languages_are_offered():
    assert set(i18n.available("source")) == set(LANGS)


@pytest.mark.parametrize("lang", LANGS)
def test_every_source_page_is_marked_with_its_language_and_direction(visit, lang):
    for name in present(visit):
        r = fetch(visit, name, lang)
        page = page_links(r.body.decode())
        assert (page.lang, page.dir) == (lang, DIRECTION[lang]), name
        assert r.header("Content-Language") == lang, name


@pytest.mark.parametrize("lang", LANGS)
def test_the_language_menu_keeps_the_page_or_leads_to_the_form(visit, lang):
    for name in present(visit):
        page = page_links(fetch(visit, name, lang).body.decode())
        if name in NO_MENU:
            # The one-time codename page: any link away would lose the words before they are copied.
            assert page.menus == 0 and page.menu == [], name
            continue
        assert page.menus == 1, name
        here = "/" if name in MENU_TO_FORM else GET_PATHS[name]
        assert sorted((m.hreflang, m.lang, m.text, m.href, m.dir) for m in page.menu) == sorted(
            (c, c, NAMES[c], f"/{c}{here}", DIRECTION[c]) for c in LANGS
        ), name
        assert [m.hreflang for m in page.menu if m.current] == [lang], name


def test_a_menu_link_opens_the_same_page_in_the_other_language(visit):
    srv = visit.fresh()
    (to_arabic,) = [
        m.href for m in page_links(srv.get("/es/conversation").body.decode()).menu if m.lang == "ar"
    ]
    assert to_arabic == "/ar/conversation"
    r = srv.get(to_arabic)
    assert r.status == 200 and page_links(r.body.decode()).lang == "ar"
    assert b'id="login-form"' in r.body


@pytest.mark.parametrize("lang", LANGS)
def test_every_link_and_form_on_a_page_keeps_its_language(visit, lang):
    followed = set()
    for name in present(visit):
        page = page_links(fetch(visit, name, lang).body.decode())
        for target in page.links + page.actions:
            if target.startswith(("/static/", "#")):  # the page's own files, a place in the page
                continue
            assert target.startswith(f"/{lang}/"), f"{name} in {lang}: {target}"
            followed.add(target.split("#")[0])
    assert {f"/{lang}/", f"/{lang}/conversation", f"/{lang}/submit"} <= followed
    for target in sorted(t for t in followed if not t.endswith(("/submit", "/send", "/delete", "/leave"))):
        r = visit.fresh().get(target)
        assert r.status == 200 and page_links(r.body.decode()).lang == lang, target


def test_plain_english_addresses_keep_plain_links(visit):
    page = page_links(visit.fresh().get("/conversation").body.decode())
    assert page.lang == "en"
    assert set(page.links + page.actions) >= {"/", "/conversation"}
    assert not [t for t in page.links + page.actions if t.startswith(tuple(f"/{c}/" for c in LANGS))]


def test_a_first_tip_posted_to_es_submit_answers_a_spanish_codename_page(visit):
    r = visit.first_tip("/es")
    assert r.status == 200 and r.header("Content-Language") == "es"
    body = r.body.decode()
    page = page_links(body)
    assert (page.lang, page.dir, page.menus) == ("es", "ltr", 0)
    assert CODENAME.search(body)  # the words stay English, marked lang="en" dir="ltr"
    advice = shown("es", english_words_advice())
    assert advice in body  # said on every translated codename page, and on no English one
    assert english_words_advice() not in visit.first_tip("/en").body.decode()
    assert "/es/conversation" in page.links and all(t.startswith("/es/") for t in page.links + page.actions)


def test_a_follow_up_posted_to_es_send_redirects_to_es_thanks(visit):
    words = CODENAME.search(visit.first_tip("/es").body.decode()).group(1)
    r = visit.login("/es", words)
    assert r.status == 200
    tok = TOKEN.search(r.body.decode()).group(1)
    body, ctype = multipart([("csrf_token", tok), ("message", "more, from the Spanish page")])
    r = visit.srv.request("POST", "/es/conversation/send", body=body, headers={"Content-Type": ctype})
    assert r.status == 303 and r.header("Location").endswith("/es/thanks")
    # With JavaScript on the page's script is told where to go, in the same language.
    r = visit.srv.request(
        "POST",
        "/es/conversation/send",
        body=body,
        headers={"Content-Type": ctype, "Accept": "application/json"},
    )
    assert r.status == 200 and json.loads(r.body)["next"] == "/es/thanks"
    thanks = visit.srv.get("/es/thanks")
    assert page_links(thanks.body.decode()).lang == "es" and thanks.header("Content-Language") == "es"


@pytest.mark.parametrize(
    ("accept", "lang"),
    [
        ("es", "es"),
        ("ar,en;q=0.5", "ar"),
        ("es-419,es;q=0.9", "es"),
        ("ar-EG", "ar"),
        # The reader's order wins: English first, even as "en-US" beside a plain "es".
        ("en-US,es;q=0.5", "en"),
        ("pt-BR,es-MX;q=0.8,en;q=0.5", "es"),
        ("fr", "en"),
        ("fr,es;q=0", "en"),  # q=0: not wanted
        ("*", "en"),
        (None, "en"),
    ],
)
def test_accept_language_is_a_first_guess_at_the_root(visit, accept, lang):
    headers = {"Accept-Language": accept} if accept else {}
    r = visit.fresh().get("/", headers=headers)
    page = page_links(r.body.decode())
    assert (page.lang, page.dir, r.header("Content-Language")) == (lang, DIRECTION[lang], lang)
    assert "Accept-Language" in (r.header("Vary") or "")
    # The guess is then kept in the address, so the next page does not guess again.
    prefix = "" if lang == "en" else f"/{lang}"
    assert f"{prefix}/submit" in page.actions


@pytest.mark.parametrize("path", ["/conversation", "/thanks", "/en/", "/en/conversation", "/no-such-page"])
def test_accept_language_is_ignored_anywhere_else(visit, path):
    r = visit.fresh().get(path, headers={"Accept-Language": "es"})
    assert page_links(r.body.decode()).lang == "en" and r.header("Content-Language") == "en"
    assert "Accept-Language" not in (r.header("Vary") or "")


@pytest.mark.parametrize("path", ["/xx/", "/xx/conversation", "/fr/", "/ES/", "/es-mx/"])
def test_an_unknown_language_prefix_is_not_found(visit, path):
    r = visit.fresh().get(path)
    assert r.status == 404 and page_links(r.body.decode()).lang == "en"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_json_errors_the_scripts_show_are_in_the_page_language(visit):
    """The error text a script shows is the catalog's sentence for that language, read from the .po."""
    srv = visit.fresh()
    for lang in ("es", "ar"):
        tok = visit.token(f"/{lang}/conversation")
        r = srv.request(
            "POST",
            f"/{lang}/conversation",
            body=f"csrf_token={tok}&verifier={b64url(os.urandom(32))}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        assert r.status == 401 and json.loads(r.body)["error"] == shown(lang, NOT_FOUND)
        assert r.header("Content-Language") == lang
        # The same sentence the page shows with JavaScript off.
        assert shown(lang, NOT_FOUND) in visit.login(f"/{lang}", "a b c d e f g").body.decode()
        json_headers = {"Accept": "application/json"}
        visit.token(f"/{lang}/")
        r = srv.post_form([("csrf_token", "0" * 64)], path=f"/{lang}/submit", headers=json_headers)
        assert r.status == 403 and json.loads(r.body)["error"] == shown(lang, MESSAGES[403][1])
        r = visit.fresh().post_form(
            [("message", "x")], path=f"/{lang}/conversation/send", headers=json_headers
        )
        assert r.status == 403 and json.loads(r.body)["error"] == shown(lang, SESSION_OVER)
        tok = visit.token(f"/{lang}/")
        huge = b"\0" * (3 * MAX_UPLOAD_MB * 1024 * 1024)
        r = srv.post_form(
            [("csrf_token", tok)],
            [("files", "huge.bin", huge, "x/y")],
            path=f"/{lang}/submit",
            headers=json_headers,
        )
        assert r.status == 413 and json.loads(r.body)["error"] == shown(lang, MESSAGES[413][1])
