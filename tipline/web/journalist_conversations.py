"""The journalists' conversation pages: the thread, the reply box, and replies written offline.

A reply reaches the store only as an envelope sealed to the source and to
every active journalist key (docs/conversations.md "Replies"): sealed in the
journalist's browser, sealed here in memory from a form field (JavaScript
off), or written by `tipline-offline reply` and uploaded. The server never
keeps a reply's text, and has no key to read one.
"""

from __future__ import annotations

import base64
import io
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, g, jsonify, redirect, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException

from tipline.store.activity import short_id
from tipline.store.conversations import (
    ConversationStore,
    NoSuchConversation,
    ReplySealedBy,
    ReplyTooLarge,
)
from tipline.store.replies import MAX_REPLY_ENVELOPE, MAX_REPLY_TEXT, reply_recipients, seal_reply
from tipline.store.submissions import IntakeError
from tipline.textmark import J_

from .i18n import link
from .journalist import _check_post, _csrf_page, _human, activity, login_required
from .journalist_status import mark_seen, page_status
from .journalist_strings import reply_strings
from .reply_upload import EnvelopeUpload, drain
from .security import check_origin

bp = Blueprint("conversations", __name__)

# Room for the multipart framing and the CSRF token around the largest envelope.
MAX_UPLOAD_BODY = MAX_REPLY_ENVELOPE + 16 * 1024
SCRIPTS = ("js/sodium.js", "js/envelope.js", "js/reply.js")


class NoEnvelopeChosen(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            J_("No file was chosen. Nothing was kept: choose the reply envelope, then upload it.")
        )


def _say(e: IntakeError) -> str:
    """A refusal's reason in the page's language (the store's message is its English msgid)."""
    return gettext(e.message, **e.params)


def _address(cid: str) -> str:
    """The conversation's page, in the page's language (the id comes from the address: quoted)."""
    return link("/conversations/" + quote(cid, safe=""))


def _ctx():
    return current_app.extensions["tipline"]


def _convs() -> ConversationStore:
    return ConversationStore(_ctx().store)


def _page(cid: str, status: int = 200, error: str | None = None, text: str = "") -> Response:
    """The conversation page; a refused reply comes back here with its reason and its text kept."""
    t = _ctx()
    conv = _convs().get(cid)
    if conv is None:
        abort(404)
    try:
        recipients = reply_recipients(conv.source_public_key, t.keyring.active())
        key_problem = None
    except IntakeError as e:
        recipients, key_problem = [], _say(e)
    subs = {s.id: s for s in t.store.list(conversation_id=cid)}
    return _csrf_page(
        "j_conversation.html",
        status,
        conv=conv,
        thread=_convs().thread(cid),
        subs=subs,
        recipients=",".join(base64.b64encode(k.raw).decode() for k in recipients),
        journalist_keys=max(len(recipients) - 1, 0),
        key_problem=key_problem,
        error=error,
        text=text,
        sent=request.args.get("sent") == "1",
        scripts=all(t.assets.exists(n) for n in SCRIPTS),
        max_text=MAX_REPLY_TEXT,
        human=_human,
        reply_strings=reply_strings,
        me=g.journalist,
        state=page_status(cid),
    )


@bp.get("/conversations/<cid>")
@login_required
def conversation(cid: str):
    mark_seen(cid)  # before the page is read: what it shows is what was seen
    return _page(cid)


def _refused(cid: str, e: IntakeError, as_json: bool) -> Response:
    """A refused reply: what happened and what to do, and a way back. Nothing was kept."""
    status = 404 if isinstance(e, NoSuchConversation) else 413 if isinstance(e, ReplyTooLarge) else 400
    if as_json:
        return jsonify(ok=False, error=_say(e)), status  # type: ignore[return-value]
    gone = isinstance(e, NoSuchConversation)
    return _csrf_page(
        "j_message.html",
        status,
        title=gettext("The reply was not kept"),
        text=_say(e),
        back=None if gone else _address(cid),
        back_text=None if gone else gettext("Back to the conversation"),
    )


def _done(cid: str, as_json: bool) -> Response:
    page = _address(cid) + "?sent=1"
    return jsonify(ok=True, next=page) if as_json else redirect(page, code=303)  # type: ignore[return-value]


@bp.post("/conversations/<cid>/reply")
@login_required
def reply(cid: str):
    """JavaScript off: the text is a form field, held in memory, sealed here; only the envelope is kept."""
    _check_post()
    text = request.form.get("message", "")
    convs = _convs()
    try:
        conv = convs.get(cid)
        if conv is None:
            raise NoSuchConversation
        envelope = seal_reply(text, reply_recipients(conv.source_public_key, _ctx().keyring.active()))
        convs.add_reply(cid, io.BytesIO(envelope), g.journalist, "server", MAX_REPLY_ENVELOPE)
        activity().record(g.journalist, "reply", f"conversation={short_id(cid)} sealed_by=server")
    except NoSuchConversation as e:
        return _refused(cid, e, as_json=False)
    except IntakeError as e:
        return _page(cid, 400, error=_say(e), text=text)
    return _done(cid, as_json=False)


@bp.post("/conversations/<cid>/envelope")
@login_required
def upload(cid: str):
    """A reply envelope, sealed in the browser (?sealed=browser) or by `tipline-offline reply`.

    The body is read as it arrives: the CSRF token, then the envelope, which
    the store checks and writes as it goes. A refusal reads the rest of the
    body (bounded by MAX_CONTENT_LENGTH) so that its page reaches the browser.
    """
    check_origin(request)
    browser = request.args.get("sealed") == "browser"
    sealed_by: ReplySealedBy = "browser" if browser else "offline"
    try:
        if (request.content_length or 0) > MAX_UPLOAD_BODY:
            raise ReplyTooLarge(MAX_REPLY_ENVELOPE)
        body = EnvelopeUpload(request)
        body.fields_then_file()
        _ctx().csrf.check(request, body.fields.get("csrf_token"))
        if body.file_field != "envelope" or (not browser and not body.filename):
            raise NoEnvelopeChosen
        _convs().add_reply(cid, body, g.journalist, sealed_by, MAX_REPLY_ENVELOPE)  # type: ignore[arg-type]
        activity().record(g.journalist, "reply", f"conversation={short_id(cid)} sealed_by={sealed_by}")
    except IntakeError as e:
        drain(request.stream)
        return _refused(cid, e, as_json=browser)
    except HTTPException:
        drain(request.stream)
        raise
    return _done(cid, as_json=browser)
