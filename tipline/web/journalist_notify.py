"""The journalist's own notification address: /settings/notifications (a form; no JavaScript needed).

The page shows the address and takes a CSRF-protected POST to set or clear
it; the store (tipline/notify/addresses.py) checks it. What a notification
says, and when, is the installation's ([notify] in tipline.toml).
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, request
from flask_babel import gettext

from tipline.notify.addresses import NotifyAddresses
from tipline.notify.settings import NotifyConfigError

from .i18n import link
from .journalist import _check_post, _csrf_page, activity, login_required

bp = Blueprint("notify_settings", __name__)
PAGE = "/settings/notifications"


def _book() -> NotifyAddresses:
    t = current_app.extensions["tipline"]
    book = current_app.extensions.get("tipline_addresses")
    if book is None:
        book = current_app.extensions["tipline_addresses"] = NotifyAddresses(t.accounts.sessions)
    return book


def _page(status: int = 200, error: str | None = None, entered: str | None = None):
    t = current_app.extensions["tipline"]
    address = _book().get(g.journalist)
    return _csrf_page(
        "j_notify.html",
        status,
        me=g.journalist,
        address=address,
        entered=address if entered is None else entered,
        email_set_up="smtp" in t.settings.notify,
        error=error,
    )


@bp.get(PAGE)
@login_required
def notifications():
    return _page()


@bp.post(PAGE)
@login_required
def notifications_post():
    _check_post()
    if request.form.get("action") == "clear":
        _book().clear(g.journalist)
        activity().record(g.journalist, "notify_address_changed", "cleared")
        return redirect(link(PAGE), code=303)
    entered = request.form.get("email", "")
    try:
        _book().set(g.journalist, entered)
    except NotifyConfigError:
        return _page(
            400,
            gettext(
                "That is not an email address like name@example.org. Nothing was changed: "
                "check it and try again."
            ),
            entered,
        )
    activity().record(g.journalist, "notify_address_changed", "set")  # never the address itself
    return redirect(link(PAGE), code=303)
