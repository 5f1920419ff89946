"""The journalists' pages: log in with passphrase and code, list, download bundles, delete.

Everything here stays ciphertext: the server has no key to open it. The
conversation pages and the reply box are in journalist_conversations.py.
"""

from __future__ import annotations

import functools
import ipaddress

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    request,
    stream_with_context,
)
from flask_babel import format_decimal, gettext, ngettext

from tipline.store.accounts import AccountError, LoginRefused, Throttled
from tipline.store.activity import ActivityLog, id_detail
from tipline.store.conversations import ConversationStore
from tipline.store.export import iter_export
from tipline.store.keyring import compact
from tipline.store.status import UnknownStatus
from tipline.store.submissions import SubmissionInfo, current_hour
from tipline.textmark import J_

from .grouping import groups
from .i18n import link
from .journalist_status import ListFilter, list_status
from .security import check_origin

bp = Blueprint("journalist", __name__)


def _ctx():
    return current_app.extensions["tipline"]


def _cookie_name() -> str:
    # __Host- requires Secure, which browsers honour only over HTTPS (or on
    # loopback); over a plain-HTTP onion the cookie goes without the prefix.
    return "__Host-tipline-session" if request.is_secure else "tipline-session"


def _is_private_transport() -> bool:
    host = request.host.rsplit(":", 1)[0].strip("[]")
    if host.endswith(".onion") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _csrf_page(template: str, status: int = 200, **kw) -> Response:
    return _ctx().csrf.page(request, template, status, **kw)


def activity() -> ActivityLog:
    """The activity log (tipline/web/journalist_activity.py installs it on the app)."""
    return current_app.extensions["tipline_activity"]


def _check_post() -> None:
    check_origin(request)
    _ctx().csrf.check(request, request.form.get("csrf_token"))


def login_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        user = _ctx().accounts.session_user(request.cookies.get(_cookie_name(), ""))
        if user is None:
            return redirect(link("/login"), code=303)
        g.journalist = user
        return view(*args, **kwargs)

    return wrapper


@bp.get("/login")
def login():
    return _csrf_page("j_login.html")


@bp.post("/login")
def login_post():
    _check_post()
    t = _ctx()
    form = request.form
    try:
        token = t.accounts.login(form.get("name", ""), form.get("passphrase", ""), form.get("code", ""))
    except Throttled as e:
        error = ngettext(
            "Too many attempts. Wait %(num)s second, then try again.",
            "Too many attempts. Wait %(num)s seconds, then try again.",
            e.wait,
        )
        resp = _csrf_page("j_login.html", 429, error=error)
        resp.headers["Retry-After"] = str(e.wait)
        return resp
    except LoginRefused:
        # Only attempts the throttle let through are counted: a refused one checks nothing,
        # and counting each would turn a flood of them into as many writes.
        log = activity()
        log.record(log.name_or_unknown(form.get("name", "")), "login_failed")
        return _csrf_page(
            "j_login.html",
            401,
            error=gettext("That name, passphrase and code did not work together. Check them and try again."),
        )
    except AccountError as e:  # the installation's TOTP key does not fit: the admin must act
        current_app.logger.error("%s", e)
        abort(500)
    activity().record(form.get("name", ""), "login")
    resp = redirect(link("/"), code=303)
    t.csrf.rotate(resp)
    resp.set_cookie(
        _cookie_name(),
        token,
        httponly=True,
        samesite="Strict",
        path="/",
        secure=request.is_secure or not _is_private_transport(),
    )
    return resp


@bp.post("/logout")
@login_required
def logout():
    _check_post()
    _ctx().accounts.logout(request.cookies.get(_cookie_name(), ""))
    activity().record(g.journalist, "logout")
    resp = redirect(link("/login"), code=303)
    resp.delete_cookie(_cookie_name(), path="/")
    return resp


# Sizes above a KB, one decimal in the page's language's digits.
UNITS = (J_("%(size)s KB"), J_("%(size)s MB"), J_("%(size)s GB"))


def _human(n: int) -> str:
    """A size as the pages show it, in the page's language: "512 bytes", "1.5 KB"."""
    if n < 1024:
        return ngettext("%(num)s byte", "%(num)s bytes", n)
    size, unit = n / 1024, 0
    while size >= 1024 and unit < len(UNITS) - 1:
        size, unit = size / 1024, unit + 1
    return gettext(UNITS[unit], size=format_decimal(size, "0.0"))


@bp.get("/")
@login_required
def index():
    t = _ctx()
    listed = groups(t.store)
    try:
        state = list_status(listed, request.args)  # the filter keeps the list's order: newest activity first
    except UnknownStatus as e:
        return _bad_filter(e)
    subs = [item for grp in listed for kind, item in grp.items if kind == "submission"]
    active = {compact(k.fingerprint) for k in t.keyring.active()}
    return _csrf_page(
        "j_list.html",
        groups=state.groups,
        state=state,
        subs=subs,
        conversations=sum(1 for grp in listed if grp.conversation),
        me=g.journalist,
        human=_human,
        active=active,
        new_count=sum(1 for s in subs if g.journalist not in s.downloads),
    )


def _bad_filter(e: UnknownStatus) -> Response:
    return _csrf_page("j_message.html", 400, title=gettext("Nothing to show"), text=gettext(e.message))


def _selected() -> list[SubmissionInfo]:
    """The submissions chosen one by one, and those of every conversation chosen whole.

    "Download all new" takes those not yet downloaded by this journalist that the list's filter,
    carried in the form, shows (UnknownStatus if the form's filter is not one).
    """
    t = _ctx()
    if request.form.get("which") == "new":
        shown = list_status(groups(t.store), request.form).groups
        subs = [item for grp in shown for kind, item in grp.items if kind == "submission"]
        return [s for s in subs if g.journalist not in s.downloads]
    ids, convs = set(request.form.getlist("id")), set(request.form.getlist("conversation"))
    return [s for s in t.store.list() if s.id in ids or (s.conversation_id and s.conversation_id in convs)]


def _chosen_conversations() -> list[str]:
    """The conversations chosen whole that still exist (each goes with its source record)."""
    known = {c.id for c in ConversationStore(_ctx().store).list()}
    return sorted(set(request.form.getlist("conversation")) & known)


@bp.post("/download")
@login_required
def download():
    _check_post()
    t = _ctx()
    try:
        subs = _selected()
    except UnknownStatus as e:
        return _bad_filter(e)
    if not subs:
        in_view = request.form.get("which") == "new" and ListFilter.parse(request.form).active
        return _csrf_page(
            "j_message.html",
            400,
            title=gettext("Nothing selected"),
            text=gettext("Nothing this view lists is new to you. Choose Show everything to see the rest.")
            if in_view
            else gettext("Select at least one submission or conversation, or choose Download all new."),
        )
    chosen = [s.id for s in subs]
    me, log = g.journalist, activity()
    convs = (s.conversation_id for s in subs if s.conversation_id)
    detail = f"submissions={len(chosen)} " + id_detail("conversations", convs)

    def stream():
        yield from iter_export(t.store, subs)
        # Only a bundle sent to the end counts as downloaded.
        t.store.mark_downloaded(chosen, me)
        log.record(me, "download", detail)

    name = f"tipline-{current_hour()[0].replace(':', '')}-{len(chosen)}.tar"
    return Response(
        stream_with_context(stream()),
        mimetype="application/x-tar",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.post("/delete")
@login_required
def delete_confirm():
    _check_post()
    try:
        subs = _selected()
    except UnknownStatus as e:
        return _bad_filter(e)
    if not subs:
        return _csrf_page(
            "j_message.html",
            400,
            title=gettext("Nothing selected"),
            text=gettext("Select the submissions or the conversations to delete."),
        )
    chosen = {s.id for s in subs}
    # A conversation whose every submission is chosen goes too (the store's rule): say so first.
    ending = sorted(
        {s.conversation_id for s in subs if s.conversation_id}
        - {s.conversation_id for s in _ctx().store.list() if s.id not in chosen}
    )
    return _csrf_page(
        "j_delete.html", subs=subs, conversations=_chosen_conversations(), ending=ending, human=_human
    )


@bp.post("/delete/confirmed")
@login_required
def delete_done():
    _check_post()
    if request.form.get("confirm") != "yes":
        abort(400)
    store, wanted, whole = _ctx().store, request.form.getlist("id"), _chosen_conversations()
    touched = {s.conversation_id for s in store.get(wanted) if s.conversation_id} | set(whole)
    # One transaction: a conversation chosen whole goes with its source record and its replies.
    n, gone = store.remove(wanted, whole)
    c = len(gone)
    if n or c:
        # Only the conversations that remain are named: the deleted ones are counted, and forgotten.
        detail = f"submissions={n} conversations_deleted={c} " + id_detail("conversations", touched - gone)
        log = activity()
        log.record(g.journalist, "delete", detail)
        log.forget(gone)
    text = ngettext(
        "Deleted %(num)s submission, with its files and its row.",
        "Deleted %(num)s submissions, with their files and their rows.",
        n,
    )
    more = ngettext(
        "Deleted %(num)s conversation too, with its replies and the source's record.",
        "Deleted %(num)s conversations too, with their replies and their sources' records.",
        c,
    )
    return _csrf_page("j_message.html", title=gettext("Deleted"), text=text, more=more if c else None)
