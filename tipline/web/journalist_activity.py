"""The journalists' activity page: who did what, to the hour, filtered by a plain GET form.

The log itself is tipline/store/activity.py, in the accounts database; this
module puts it on the app (journalist.py and journalist_conversations.py
record into it) and shows it. Nothing here changes it.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, g, request
from flask_babel import gettext

from tipline.store.activity import ACTIONS, ADMIN, UNKNOWN_NAME, ActivityLog
from tipline.textmark import J_

from .i18n import register
from .journalist import _csrf_page, login_required

bp = Blueprint("activity", __name__)
SHOWN = 500  # the newest entries the page shows; `tipline log` has them all

# How the page names each action, in the page's language.
LABELS = {
    "login": J_("Logged in"),
    "login_failed": J_("Failed login"),
    "logout": J_("Logged out"),
    "download": J_("Downloaded"),
    "reply": J_("Replied"),
    "delete": J_("Deleted"),
    "key_added": J_("Key added"),
    "key_retired": J_("Key retired"),
    "account_added": J_("Account added"),
    "account_changed": J_("Account changed"),
    "account_removed": J_("Account removed"),
    "settings_changed": J_("Settings changed"),
    "log_purged": J_("Log purged"),
    "notify_address_changed": J_("Notification address changed"),
}
NAMES = {ADMIN: J_("admin (command line)"), UNKNOWN_NAME: J_("(unknown name)")}


def install(app: Flask) -> None:
    """The log on the accounts database's sessions, and the page, in every language."""
    ctx = app.extensions["tipline"]
    app.extensions["tipline_activity"] = ActivityLog(ctx.accounts.sessions)
    register(app, bp)


def _label(action: str) -> str:
    return gettext(LABELS[action]) if action in LABELS else action


def _name(name: str) -> str:
    return gettext(NAMES[name]) if name in NAMES else name


@bp.get("/activity")
@login_required
def activity_page():
    log: ActivityLog = current_app.extensions["tipline_activity"]
    who = request.args.get("journalist", "")
    action = request.args.get("action", "")
    names = log.journalists()
    # A filter that names nothing the log holds shows nothing, rather than everything.
    entries = log.entries(journalist=who or None, action=action or None, limit=SHOWN)
    return _csrf_page(
        "j_activity.html",
        entries=entries,
        names=names,
        actions=ACTIONS,
        chosen_name=who,
        chosen_action=action,
        label=_label,
        name_of=_name,
        shown=SHOWN,
        me=g.journalist,
    )
