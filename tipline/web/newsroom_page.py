"""The newsroom's own page on the source side: its voice in the page's language, and its logo.

The settings are checked once, before the app serves anything (tipline/newsroom.py);
the logo is then served from memory at /newsroom/logo.<ext> (and under each language's
prefix, where that language may have a logo of its own), same-origin like every asset.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, current_app
from flask_babel import get_locale

from tipline.config import Settings
from tipline.newsroom import Newsroom, Voice, load

from .i18n import available, register

bp = Blueprint("newsroom", __name__)


def load_newsroom(settings: Settings) -> Newsroom:
    """The checked [newsroom] settings for the languages the source pages offer (raises NewsroomError)."""
    return load(settings.newsroom, available("source"))


def install(app: Flask, settings: Settings) -> None:
    app.extensions["tipline_newsroom"] = load_newsroom(settings)
    app.jinja_env.globals["newsroom"] = voice
    register(app, bp)


def voice() -> Voice:
    """The newsroom's name, logo and texts in the page's language (or its [newsroom] defaults)."""
    return current_app.extensions["tipline_newsroom"].voice(str(get_locale()))


@bp.get("/newsroom/logo.<ext>")
def logo(ext: str) -> Response:
    shown = voice().logo
    if shown is None or ext != shown.ext:
        abort(404)
    return Response(shown.data, mimetype=shown.mime)
