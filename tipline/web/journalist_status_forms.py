"""The conversation page's status and star forms: CSRF-checked POSTs, then 303 back to the page.

They work without JavaScript. A bad value or a conversation that is gone gets
a plain page that says nothing was changed.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, g, redirect, request
from flask_babel import gettext

from tipline.store.status import StatusStore, UnknownConversation
from tipline.store.submissions import IntakeError

from .journalist import _check_post, _csrf_page, login_required
from .journalist_conversations import _address, _say
from .journalist_status import statuses

bp = Blueprint("status", __name__)
STAR = {"1": True, "0": False}


def _change(cid: str, change: Callable[[StatusStore], None]) -> Response:
    try:
        change(statuses())
    except IntakeError as e:
        gone = isinstance(e, UnknownConversation)
        return _csrf_page(
            "j_message.html",
            404 if gone else 400,
            title=gettext("Nothing was changed"),
            text=_say(e),
            back=None if gone else _address(cid),
            back_text=None if gone else gettext("Back to the conversation"),
        )
    return redirect(_address(cid) + "?saved=1", code=303)  # type: ignore[return-value]


@bp.post("/conversations/<cid>/status")
@login_required
def set_status(cid: str):
    _check_post()
    return _change(cid, lambda s: s.set_status(cid, request.form.get("status", ""), g.journalist))


@bp.post("/conversations/<cid>/star")
@login_required
def set_star(cid: str):
    _check_post()
    starred = STAR.get(request.form.get("starred", ""))
    return _change(cid, lambda s: s.set_star(cid, starred, g.journalist))  # type: ignore[arg-type]
