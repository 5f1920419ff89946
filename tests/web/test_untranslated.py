"""No sentence of an English source page is left in English on its Spanish or Arabic page.

Every source page (tests/web/sourcepages.py) is fetched over real HTTP in each language; its
visible text is split into sentences (tests/web/pagetext.py, which leaves out what is English on
purpose: the codename, the language menu, the newsroom's own settings). The scripts' sentences,
in the page's JSON block, are compared key by key. The checker's own tests below run it on an
English page against itself, where it must flag everything, and on small pages made to measure.
"""

from __future__ import annotations

import pytest

from tests.web.pagetext import (
    PageText,
    page_text,
    untranslated,
    untranslated_strings,
)
from tests.web.server import make_server
from tests.web.sourcepages import MAX_UPLOAD_MB, Visit, fetch, present

SHOWN = 25  # a failure lists this many findings, then counts the rest


@pytest.fixture(scope="module")
def visit(tmp_path_factory, keydir):
    srv = make_server(tmp_path_factory.mktemp("untranslated"), keydir / "journalist.pub")
    srv.start("--max-upload-mb", str(MAX_UPLOAD_MB))
    yield Visit(srv, keydir)
    srv.stop()


@pytest.fixture(scope="module")
def english(visit) -> dict[str, PageText]:
    return {name: page_text(fetch(visit, name, "en").body.decode()) for name in present(visit)}


def report(lang: str, what: str, findings: list[str]) -> str:
    shown = "\n".join(f"  {f}" for f in findings[:SHOWN])
    more = f"\n  ... and {len(findings) - SHOWN} more" if len(findings) > SHOWN else ""
    return f"{len(findings)} {what} left in English on the {lang} pages:\n{shown}{more}"


@pytest.mark.parametrize("lang", ["es", "ar"])
def test_no_english_sentence_left_on_a_translated_page(visit, english, lang):
    findings = []
    for name, en in english.items():
        other = page_text(fetch(visit, name, lang).body.decode())
        findings += [f"[{name}] {s}" for s in untranslated(en, other)]
    if findings:
        pytest.fail(report(lang, "sentences", findings), pytrace=False)


@pytest.mark.parametrize("lang", ["es", "ar"])
def test_the_scripts_sentences_are_translated(visit, english, lang):
    findings = []
    with_strings = [name for name, en in english.items() if en.strings is not None]
    assert {"form", "conversation login", "conversation with a reply"} <= set(with_strings)
    for name in with_strings:
        other = page_text(fetch(visit, name, lang).body.decode())
        assert other.strings is not None, f"{name} in {lang} has no #tipline-strings block"
        assert other.strings.keys() == english[name].strings.keys(), name
        findings += [
            f"[{name}] {key}: {english[name].strings[key]!r}"
            for key in untranslated_strings(english[name].strings, other.strings)
        ]
    if findings:
        pytest.fail(report(lang, "script sentences", findings), pytrace=False)


# -- the checker itself ---------------------------------------------------------------------------


def test_checker_flags_every_sentence_of_an_english_page_against_itself(english):
    """English against English is the worst translation there is: every sentence is flagged."""
    assert len(english) >= 13
    for name, en in english.items():
        assert en.checked(), f"{name}: no text found to check"
        assert untranslated(en, en) == en.checked(), name
        if en.strings is not None:
            flagged = untranslated_strings(en.strings, en.strings)
            # Only the progress line, all placeholders, may stay as it is.
            assert set(en.strings) - set(flagged) == {"progress"}, name


def test_checker_flags_english_in_every_kind_of_source_page(english):
    """What the pages must show in another language is found: the sentences, the short headings and
    buttons, the title, the error texts, and the words a screen reader reads from aria-label."""
    form = english["form"].checked()
    assert "Send us a tip securely" in form  # the heading (and the title, as the title block)
    assert "Send securely" in form  # a button of two words
    assert "We do not record your IP address or the exact time you write." in form
    # A {% trans %} block's inline <strong> is part of its sentence, not a sentence of its own.
    assert any("choose New Identity from its menu" in s for s in english["thanks"].checked())
    assert "There is nothing at this address." in english["404"].checked()
    refused = english["403 bad CSRF token"].checked()
    assert "Your session for this page ran out or was not accepted." in refused
    conversation = english["conversation with a reply"]
    assert any(s.startswith("Sent on ") for s in conversation.checked())  # the reply's hour
    assert "in the hour from" in conversation.checked()  # and its words between the numbers
    # Left out, on purpose: the codename's words and the reply's own text.
    assert not any("A reply from the newsroom" in b for b in conversation.blocks)
    assert "The reply was deleted." in english["reply deleted"].checked()
    assert (
        "This address does not take that kind of request."
        in english["405 (GET of a form's address)"].checked()
    )
    codename_page = english["codename (JavaScript off)"]
    assert "Write it on paper now, and keep the paper somewhere safe." in codename_page.checked()


PAGE = """<!doctype html><html lang="{lang}"><head><title>{title}</title>
<script type="application/json" id="tipline-strings">
{{"sent": "{sent}", "progress": "%(what)s: %(percent)s%%"}}</script>
<script src="/static/x.js"></script><style>p {{ color: red }}</style></head><body>
<nav id="languages" aria-label="{menu}"><ul><li><a href="/en/" lang="en">English</a></li>
<li><a href="/es/" lang="es">Español and other words here</a></li></ul></nav>
<main><h1>{heading}</h1>
<p>{first} {second}</p>
<p id="codename" class="codename" lang="en" dir="ltr">apple banana cherry damson elder fig grape</p>
<section data-newsroom><p>The Daily Example takes tips about the city council.</p></section>
<p class="newsroom-text">Our newsroom is on the fourth floor of the old mill.</p>
<p class="reply-text" dir="auto">A reply the journalist wrote in English, as written.</p>
<p>{inline}</p><input type="file" aria-label="{label}"><br>
</main></body></html>"""
ENGLISH = {
    "lang": "en",
    "title": "Send a tip securely",
    "sent": "Sent",
    "menu": "Language",
    "heading": "Send us a tip",
    "first": "Write your message here.",
    "second": "We do not record your address.",
    "inline": "Choose <strong>New Identity</strong> from the menu.",
    "label": "Choose the files to send",
}
SPANISH = {
    "lang": "es",
    "title": "Envíe información de forma segura",
    "sent": "Enviado",
    "menu": "Idioma",
    "heading": "Envíenos información",
    "first": "Escriba aquí su mensaje.",
    "second": "No registramos su dirección.",
    "inline": "Elija <strong>Nueva identidad</strong> en el menú.",
    "label": "Elija los archivos que enviará",
}


def test_checker_passes_a_translated_page_and_what_is_english_on_purpose():
    en, es = page_text(PAGE.format(**ENGLISH)), page_text(PAGE.format(**SPANISH))
    assert untranslated(en, es) == []
    assert untranslated_strings(en.strings, es.strings) == []
    everything = " ".join(en.blocks)
    for left_out in ("apple banana", "Daily Example", "fourth floor", "journalist wrote", "color", "Español"):
        assert left_out not in everything


@pytest.mark.parametrize(
    ("key", "sentence"),
    [
        ("title", "Send a tip securely"),
        ("heading", "Send us a tip"),
        ("second", "We do not record your address."),
        ("inline", "Choose New Identity from the menu."),
        ("label", "Choose the files to send"),
    ],
)
def test_checker_names_the_one_sentence_left_in_english(key, sentence):
    en = page_text(PAGE.format(**ENGLISH))
    es = page_text(PAGE.format(**{**SPANISH, key: ENGLISH[key]}))
    assert untranslated(en, es) == [sentence]


def test_checker_names_the_script_sentence_left_in_english():
    en = page_text(PAGE.format(**ENGLISH))
    es = page_text(PAGE.format(**{**SPANISH, "sent": "Sent"}))
    assert untranslated(en, es) == []
    assert untranslated_strings(en.strings, es.strings) == ["sent"]
    assert untranslated_strings(en.strings, {}) == ["sent"]  # a key missing is not translated either


def test_a_short_sentence_inside_a_paragraph_is_not_flagged():
    """Three words or fewer in running text may well be the same in both languages ("Tor Browser")."""
    en = page_text("<p>Use Tor Browser. Then write to us at length.</p>")
    es = page_text("<p>Use Tor Browser. Luego escríbanos con calma.</p>")
    assert untranslated(en, es) == []


def test_a_sentence_filled_with_a_translated_date_is_checked_between_its_numbers():
    en = page_text("<p>Sent on 1 December 2026, in the hour from 14:00 UTC</p>")
    half = page_text("<p>Sent on 1 de diciembre de 2026, in the hour from 14:00 UTC</p>")
    whole = page_text("<p>Enviada el 1 de diciembre de 2026, en la hora de las 14:00 UTC</p>")
    assert untranslated(en, half) == ["in the hour from"]
    assert untranslated(en, whole) == []
