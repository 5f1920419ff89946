"""The app factories: the source app and the journalist app, two apps that share no routes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, Response, g, jsonify, render_template, request, send_from_directory
from flask_babel import gettext
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from tipline.config import Settings
from tipline.store.db import make_engine, make_sessions
from tipline.store.keyring import Keyring
from tipline.store.secretfile import load_or_create
from tipline.store.submissions import DISK_FULL, IntakeError, StorageFull, SubmissionStore
from tipline.textmark import N_

from .assets import Assets
from .digest import hold_tipline_logs
from .i18n import TRANSLATIONS, register
from .i18n import install as install_i18n
from .logs import TiplineFlask, log_unexpected
from .newsroom_page import install as install_newsroom
from .reply_upload import JournalistRequest
from .security import Csrf, install_headers
from .slowbody import BodyDeadline, ClientTooSlow
from .uploads import UploadRequest

if TYPE_CHECKING:
    from tipline.store.accounts import Accounts

# What each failure tells the source: plain, calm, and what to do next.
MESSAGES = {
    400: (
        N_("That did not work"),
        N_("Something in what was sent was not right. Nothing was kept. Go back and try again."),
    ),
    403: (
        N_("Please reload the page"),
        N_(
            "Your session for this page ran out or was not accepted. "
            "Nothing was kept. Reload the page, then send again."
        ),
    ),
    404: (N_("Page not found"), N_("There is nothing at this address.")),
    429: (N_("Please wait"), N_("Too many attempts in a short time. Wait a minute, then try again.")),
    405: (N_("Not allowed"), N_("This address does not take that kind of request.")),
    408: (
        N_("The connection was too slow"),
        N_("Your tip did not arrive in time. Nothing was kept. Please try again."),
    ),
    413: (
        N_("Too large"),
        N_(
            "What you sent is larger than this tip line accepts. Nothing was kept. "
            "Send fewer or smaller files, or split them over several tips."
        ),
    ),
    500: (N_("Something went wrong"), N_("Nothing was kept. Please try again in a few minutes.")),
    503: (
        N_("Temporarily unavailable"),
        N_("The tip line cannot take tips at the moment. Nothing was kept. Please try again later."),
    ),
}


@dataclass
class Context:
    settings: Settings
    store: SubmissionStore
    keyring: Keyring
    csrf: Csrf
    assets: Assets
    accounts: Accounts | None = None

    @property
    def scripts_ready(self) -> bool:
        """Whether the browser crypto was built; without it the page works as with JavaScript off."""
        names = ("sodium-sumo", "envelope", "envelope-open", "strings", "submit", "codename", "conversation")
        return all(self.assets.exists(f"js/{n}.js") for n in names)


def _base_app(settings: Settings, app_name: str) -> tuple[Flask, Context]:
    """What both apps share: storage, headers, static files with SRI, and plain error pages.

    Each app keeps its CSRF secret in its own private folder, so a token
    made by one is worthless to the other.
    """
    app = TiplineFlask(__name__, static_folder=None)
    app.config.update(SESSION_COOKIE_NAME="unused")
    engine = make_engine(settings.db_url, data_dir=settings.data_dir)  # SchemaError: tipline upgrade
    sessions = make_sessions(engine)
    ctx = Context(
        settings=settings,
        store=SubmissionStore(settings.store_dir, sessions),
        keyring=Keyring(settings.keys_dir),
        csrf=Csrf(load_or_create(settings.csrf_secret_path(app_name))),
        assets=Assets(),
    )
    app.extensions["tipline"] = ctx
    app.jinja_env.globals["sri"] = ctx.assets.sri
    install_headers(app, settings.onion_address)
    install_i18n(app, app_name, Path(settings.translations_dir or TRANSLATIONS))

    @app.get("/static/<path:name>")
    def static(name: str) -> Response:
        return send_from_directory(ctx.assets.folder, name, etag=False, conditional=False, max_age=0)

    def error_page(code: int, detail: str | None = None, details: dict | None = None):
        title, text = (gettext(m) for m in MESSAGES.get(code, MESSAGES[500]))
        if detail:
            text = detail
        g.tipline_error = True  # the language menu then leads to the form, not back here
        if request.accept_mimetypes.best == "application/json":
            return jsonify(ok=False, error=text, **(details or {})), code
        return render_template("error.html", title=title, text=text), code

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        return error_page(e.code or 500)

    @app.errorhandler(IntakeError)
    def intake_error(e: IntakeError):
        return error_page(e.status, gettext(e.message, **e.params), e.details)

    @app.errorhandler(ClientTooSlow)
    def too_slow(_e: ClientTooSlow):
        resp = app.make_response(error_page(408))
        resp.headers["Connection"] = "close"  # the rest of the body is not worth waiting for
        return resp

    @app.errorhandler(StorageFull)
    def storage_full(_e: StorageFull):
        return error_page(503)

    @app.errorhandler(OSError)
    def os_error(e: OSError):
        if e.errno in DISK_FULL:
            app.logger.error("storage is full: a tip was refused with 503")
            return error_page(503)
        return unexpected(e)

    @app.errorhandler(OperationalError)
    def db_error(e: OperationalError):
        if "full" in str(e.orig):  # SQLite: "database or disk is full"
            app.logger.error("database storage is full: a request was refused with 503")
            return error_page(503)
        return unexpected(e)

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        # Logged without the request (no path, address or headers) and without the
        # exception's text, which could quote what was sent. Never shown.
        log_unexpected(app.logger, e)
        return error_page(500)

    return app, ctx


def create_source_app(settings: Settings) -> Flask:
    """The sources' app: the form and the upload. Nothing of the journalists' side.

    It has no Accounts and never opens DATA_DIR/journalist/: code running
    here finds no journalist credentials, sealed or not.
    """
    hold_tipline_logs(settings.log_hold_s)  # before the app: Flask then adds no handler of its own
    app, _ctx = _base_app(settings, "source")
    app.request_class = UploadRequest
    app.config.update(
        # The browser path's allowance (see source.submit) plus room for the multipart framing.
        MAX_CONTENT_LENGTH=settings.max_sealed_bytes + 1024 * 1024,
        MAX_FORM_MEMORY_SIZE=settings.max_message_kb * 1024,
        MAX_FORM_PARTS=settings.max_files + 16,
    )
    _conversations(app, settings)
    from .tus import install as install_tus

    install_tus(app, settings)  # uploads in parts: the source app only
    return _guard_bodies(app, settings)


def _conversations(app: Flask, settings: Settings) -> None:
    """The form and the source's conversation pages, with their per-installation secrets."""
    from tipline.store.conversations import ConversationStore

    from .conversation import SourceSide
    from .conversation import bp as conversation_bp
    from .login import LoginGate
    from .source import bp
    from .srcsession import SourceSessions

    ctx: Context = app.extensions["tipline"]
    app.extensions["tipline_source"] = SourceSide(
        install_salt=load_or_create(settings.install_salt_path, size=16),
        sessions=SourceSessions(
            load_or_create(settings.source_session_key_path),
            settings.source_session_minutes,
            settings.source_session_max_minutes,
        ),
        gate=LoginGate(settings.max_logins_in_flight),
        conversations=ConversationStore(ctx.store),
    )
    register(app, bp)
    register(app, conversation_bp)
    install_newsroom(app, settings)


def create_journalist_app(settings: Settings) -> Flask:
    """The journalists' app: login, the list, conversations and replies, bundles. On its own onion."""
    from tipline.store.accounts import open_accounts

    app, ctx = _base_app(settings, "journalist")
    ctx.accounts = open_accounts(
        settings.accounts_db_url,
        settings.totp_key_path,
        settings.session_idle_minutes * 60,
        settings.session_max_hours * 3600,
        data_dir=settings.data_dir,
    )
    # Forms hold fields only, in memory (a reply typed with JavaScript off is one, 64 KiB of text at
    # most, up to 3 times that URL-encoded); the one file, a reply envelope, is read as it arrives.
    app.request_class = JournalistRequest
    app.config.update(MAX_CONTENT_LENGTH=1024 * 1024, MAX_FORM_MEMORY_SIZE=1024 * 1024, MAX_FORM_PARTS=5000)
    from .journalist import bp
    from .journalist_activity import install as install_activity
    from .journalist_conversations import bp as conversations_bp
    from .journalist_notify import bp as notify_bp
    from .journalist_status_forms import bp as status_bp

    register(app, bp)
    register(app, conversations_bp)
    register(app, notify_bp)
    register(app, status_bp)
    install_activity(app)
    return _guard_bodies(app, settings)


def _guard_bodies(app: Flask, settings: Settings) -> Flask:
    """Cut off request bodies that stall or crawl (tipline/web/slowbody.py)."""
    app.wsgi_app = BodyDeadline(  # type: ignore[method-assign]
        app.wsgi_app, settings.body_idle_s, settings.body_min_rate, settings.body_grace_s
    )
    return app
