"""The page's language: from the address, never from a cookie (docs/translating.md).

Every source page is served at `/<lang>/…` as well as at its plain English
address, so a language chosen from the menu survives every link and form
without JavaScript or cookies. Tor Browser asks for English whatever its user
reads, so `Accept-Language` is only a first guess, and only for `/`.

Catalogs live in tipline/web/translations/<app>/<lang>/LC_MESSAGES/messages.po,
one folder per app (the journalist app has its own, English first). They are
compiled to .mo when the package is built (hatch_build.py), never committed
compiled; a language is offered once its compiled catalog is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel import Locale
from babel.dates import format_skeleton
from flask import Blueprint, Flask, Response, current_app, g, request
from flask_babel import Babel, get_locale, gettext
from werkzeug.datastructures import LanguageAccept

TRANSLATIONS = Path(__file__).parent / "translations"
DEFAULT = "en"


@dataclass(frozen=True)
class Language:
    """One language the pages can be read in, named in itself ("Español", "العربية")."""

    code: str
    name: str
    dir: str


def language(code: str) -> Language:
    loc = Locale.parse(code)
    name = loc.get_display_name(code) or code
    return Language(code, name[:1].upper() + name[1:], "rtl" if loc.text_direction == "rtl" else "ltr")


def available(app_name: str, translations: Path = TRANSLATIONS) -> tuple[str, ...]:
    """English, then every language whose compiled catalog this app has, in code order."""
    folder = translations / app_name
    found = sorted(p.parent.parent.name for p in folder.glob("*/LC_MESSAGES/messages.mo"))
    return (DEFAULT, *(c for c in found if c != DEFAULT))


def _path_lang(path: str, codes: tuple[str, ...]) -> str | None:
    first = path.lstrip("/").split("/", 1)[0]
    return first if first in codes else None


def _guess(accepted: LanguageAccept, codes: tuple[str, ...]) -> str | None:
    """The first offered language in the reader's own order, by its primary subtag ("es-419" is es).

    Not werkzeug's best_match, which tries every exact match before any regional one, so that
    "en-US,es;q=0.5" would give Spanish to a reader who asked for English first.
    """
    by_tag = {c.replace("_", "-").lower(): c for c in codes}
    for value, quality in accepted:  # highest quality first
        if quality <= 0:
            continue  # "q=0": not wanted at all
        tag = value.replace("_", "-").lower()
        primary = tag.split("-", 1)[0]
        if tag in by_tag or primary in by_tag:  # "pt-BR" is pt_BR; "es-419" is es
            return by_tag.get(tag) or by_tag[primary]
    return None


def install(app: Flask, app_name: str, translations: Path = TRANSLATIONS) -> tuple[str, ...]:
    """Wire Flask-Babel to the app's catalogs and the locale to the address; returns the codes.

    `translations` holds one folder per app (the setting translations_dir may name another).
    """
    codes = available(app_name, translations)
    languages = {c: language(c) for c in codes}

    def select() -> str:
        lang = _path_lang(request.path, codes)
        if lang is None and request.path == "/":
            lang = _guess(request.accept_languages, codes)
        return lang or DEFAULT

    Babel(app, locale_selector=select, default_translation_directories=str(translations / app_name))
    app.config["TIPLINE_LANGS"] = codes

    @app.url_value_preprocessor
    def _drop_lang(_endpoint: str | None, values: dict | None) -> None:
        if values:
            values.pop("lang", None)  # the views never need it: get_locale() has it

    @app.after_request
    def _vary(resp: Response) -> Response:
        if request.path == "/":
            resp.vary.add("Accept-Language")
        resp.headers["Content-Language"] = current().code
        return resp

    def current() -> Language:
        return languages.get(str(get_locale()), languages[DEFAULT])

    def prefix() -> str:
        """The address prefix the page's links keep: none for plain English, else "/<lang>"."""
        code = current().code
        if code == DEFAULT and _path_lang(request.path, codes) is None:
            return ""
        return "/" + code

    def link(path: str) -> str:
        return prefix() + path

    def menu() -> list[tuple[Language, str]]:
        """Each language with the address of this page in it (the form, where this page is a POST's)."""
        here = request.path[len(prefix()) :] or "/"
        if request.method != "GET" or g.get("tipline_error"):
            here = "/"
        return [(languages[c], f"/{c}{here}") for c in codes]

    from .browser_strings import browser_strings

    app.jinja_env.policies["ext.i18n.trimmed"] = (
        True  # a {% trans %} block's line breaks are not in its msgid
    )
    app.jinja_env.globals.update(
        page_language=current,
        link=link,
        language_menu=menu,
        browser_strings=browser_strings,
        sent_hour=sent_hour,
    )
    app.extensions["tipline_link"] = link
    return codes


def link(path: str) -> str:
    """`path` in the current page's language, for redirects made in views."""
    return current_app.extensions["tipline_link"](path)


def register(app: Flask, blueprint: Blueprint) -> None:
    """Serve a blueprint at its plain address and under each language's prefix."""
    app.register_blueprint(blueprint)
    codes = app.config["TIPLINE_LANGS"]
    app.register_blueprint(blueprint, url_prefix=lang_prefix(codes), name=f"{blueprint.name}_lang")


def sent_hour(hour: str) -> str:
    """ "Sent on 1 December 2026, in the hour from 14:00 UTC", in the page's language.

    `hour` is a stored hour, "2026-12-01T14:00Z" (never finer); an unreadable one is shown as it is.
    """
    try:
        when = datetime.strptime(hour, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    except ValueError:
        return gettext("Sent in the hour from %(hour)s", hour=hour)
    loc = get_locale()
    return gettext(
        "Sent on %(date)s, in the hour from %(time)s UTC",
        date=format_skeleton("yMMMMd", when, locale=loc),
        time=format_skeleton("Hm", when, tzinfo=UTC, locale=loc),
    )


def lang_prefix(codes: tuple[str, ...]) -> str:
    """The URL rule prefix that matches exactly the offered codes."""
    return "/<any(" + ", ".join(codes) + "):lang>"
