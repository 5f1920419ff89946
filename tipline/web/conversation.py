"""The source's "Read replies / continue" pages (docs/conversations.md "The login exchange").

GET /conversation takes the codename. POST /conversation logs in: with
JavaScript on the browser sends only the verifier and opens the reply
envelopes itself; with it off the server derives, opens the replies in memory
and renders them. Then the source can send more (the form's own intake code),
delete a reply, or leave. Nothing about a login is stored: the session is a
sealed cookie (tipline/web/srcsession.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
)
from flask_babel import gettext as _

from tipline.store.conversations import ConversationStore
from tipline.textmark import N_

from .i18n import link, sent_hour
from .intake import receive
from .login import Busy, LoginGate, find_by_verifier, key_from_field, login_with_codename, reply_envelopes
from .security import check_origin
from .source import form_context
from .srcsession import SourceSessions

bp = Blueprint("conversation", __name__)

# One calm page for a wrong codename, one from another tip line and a malformed one alike.
NOT_FOUND = N_(
    "That codename did not open a conversation. Check each word against your paper and try "
    "again. If you have lost it, nobody can recover it: you can send a new tip instead."
)
BUSY = N_(
    "Too many people are opening conversations at this moment. Nothing was changed. "
    "Wait a minute, then try again. Sending a new tip still works."
)
SESSION_OVER = N_(
    "Your time in this conversation ran out, or you left it. Nothing was kept. "
    "Enter your codename again, then send."
)
DELETED = N_("The reply was deleted. The newsroom will see that you deleted it, but not when.")
NOT_DELETED = N_("That reply was already deleted, or is not in this conversation. Nothing was changed.")


@dataclass
class SourceSide:
    """What the source app needs for conversations, made once when the app starts."""

    install_salt: bytes
    sessions: SourceSessions
    gate: LoginGate
    conversations: ConversationStore


def _side() -> SourceSide:
    return current_app.extensions["tipline_source"]


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _page(status: int = 200, conversation_id: str | None = None, login: bool = False, **kw) -> Response:
    """The conversation page; a logged-in one renews the session (up to its lifetime cap)."""
    t = current_app.extensions["tipline"]
    resp = t.csrf.page(
        request, "conversation.html", status, logged_in=conversation_id is not None, **form_context(), **kw
    )
    if conversation_id is not None:
        _side().sessions.start(request, resp, conversation_id, login=login)
    return resp


def _current() -> str | None:
    """The logged-in conversation, if it still exists."""
    side = _side()
    cid = side.sessions.conversation_id(request)
    return cid if cid is not None and side.conversations.get(cid) is not None else None


def _check_post() -> None:
    check_origin(request)
    current_app.extensions["tipline"].csrf.check(request, request.form.get("csrf_token"))


@bp.get("/conversation")
def page():
    return _page(conversation_id=_current())


@bp.post("/conversation")
def login():
    _check_post()
    side = _side()
    verifier_field = request.form.get("verifier")
    if verifier_field is not None:  # JavaScript on: no derivation here, so no slot is needed
        verifier = key_from_field(verifier_field)
        conv = None if verifier is None else find_by_verifier(side.conversations, verifier)
        if conv is None:
            return jsonify(ok=False, error=_(NOT_FOUND)), 401
        replies = [dict(r, when=sent_hour(r["hour"])) for r in reply_envelopes(side.conversations, conv.id)]
        resp = jsonify(ok=True, replies=replies)
        side.sessions.start(request, resp, conv.id, login=True)
        return resp
    try:
        with side.gate.slot():
            typed = request.form.get("codename", "")
            found = login_with_codename(side.conversations, typed, side.install_salt)
    except Busy:
        return _busy()
    if found is None:
        return _page(401, error=_(NOT_FOUND))
    conv, replies = found
    return _page(conversation_id=conv.id, login=True, replies=replies)


def _plain(status: int, title: str, text: str) -> Response:
    """A plain error page (or JSON for the page's own scripts), as the app's error handler makes."""
    if _wants_json():
        resp = jsonify(ok=False, error=text)
    else:
        resp = make_response(render_template("error.html", title=title, text=text))
    resp.status_code = status
    return resp


def _busy() -> Response:
    resp = _plain(503, _("Please wait a minute"), _(BUSY))
    resp.headers["Retry-After"] = "60"
    return resp


@bp.post("/conversation/send")
def send():
    """A follow-up: the same intake as the form's, into the logged-in conversation."""
    side = _side()
    cid = side.sessions.conversation_id(request)
    if cid is None:
        resp = _plain(403, _("Please enter your codename again"), _(SESSION_OVER))
        resp.headers["Connection"] = "close"  # the body is not worth reading
        return resp
    receive(
        lambda sealed_by, recipients, limit, items: side.conversations.begin_follow_up(
            cid, sealed_by, recipients, limit, items
        )
    )
    thanks = link("/thanks")
    resp = jsonify(ok=True, next=thanks) if _wants_json() else redirect(thanks, code=303)
    side.sessions.start(request, resp, cid)
    return resp


@bp.post("/conversation/delete")
def delete_reply():
    _check_post()
    cid = _current()
    if cid is None:
        abort(403)
    deleted = _side().conversations.delete_reply(cid, request.form.get("reply_id", ""))
    if _wants_json():
        return jsonify(ok=deleted, error=None if deleted else _(NOT_DELETED)), 200 if deleted else 404
    return _page(200 if deleted else 404, conversation_id=cid, notice=_(DELETED if deleted else NOT_DELETED))


@bp.post("/conversation/leave")
def leave():
    """Clear the session, and the CSRF cookie with it: with JavaScript off the login's POST, with
    the codename in its body, stays in the tab's history, and Back would send it again."""
    _check_post()
    t = current_app.extensions["tipline"]
    resp = t.csrf.page(request, "left.html")
    _side().sessions.end(request, resp)
    t.csrf.rotate(resp)
    return resp
