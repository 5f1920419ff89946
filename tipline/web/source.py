"""The source's pages: the form, the upload, the thank-you page."""

from __future__ import annotations

import base64

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import BadRequest

from tipline.store.submissions import IntakeError

from .security import check_origin
from .uploads import UploadRequest

bp = Blueprint("source", __name__)


def _ctx():
    return current_app.extensions["tipline"]


@bp.get("/")
def index():
    t = _ctx()
    keys = t.keyring.active()
    return t.csrf.page(
        request,
        "submit.html",
        recipients=",".join(base64.b64encode(k.raw).decode() for k in keys),
        max_bytes=t.settings.max_upload_bytes,
        max_files=t.settings.max_files,
        accepting=bool(keys),
        scripts=t.scripts_ready,
    )


@bp.post("/submit")
def submit():
    t = _ctx()
    check_origin(request)
    req: UploadRequest = request  # type: ignore[assignment]
    browser = request.args.get("sealed") == "browser"
    req.sealed_by = "browser" if browser else "server"
    limit = t.settings.max_upload_bytes
    if browser:
        # Envelopes are larger than what they hold: Padmé adds at most 11.8 %,
        # and each item carries a header and its metadata (a few KiB at most).
        limit = limit * 112 // 100 + (t.settings.max_files + 1) * 8192
    req.intake = intake = t.store.begin(
        req.sealed_by, t.keyring.active(), max_bytes=limit, max_items=t.settings.max_files + 1
    )
    try:
        try:
            form = request.form  # parsing streams every file part into the intake
        except ValueError:
            raise BadRequest("malformed form data") from None  # Werkzeug's word for a broken body
        # Fields other than the message (an old page's honeypot, an autofill) are ignored,
        # never a reason to drop a tip: see "Spam bots" in docs/threat-model.md.
        t.csrf.check(request, form.get("csrf_token"))
        for item in list(intake.items):
            if not browser and item.meta.name == "" and item.empty:  # type: ignore[attr-defined]
                intake.drop(item)  # a file field left empty
        message = form.get("message", "")
        if browser and message:
            raise IntakeError(
                "This page sent an unencrypted message; nothing was kept. Reload and send again."
            )
        if message.strip():
            intake.add_message(message)
        intake.commit()
    except BaseException:
        intake.abort()
        raise
    return _done(browser)


def _done(browser: bool):
    if browser:
        return jsonify(ok=True, next=url_for("source.thanks"))
    return redirect(url_for("source.thanks"), code=303)


@bp.get("/thanks")
def thanks():
    return render_template("thanks.html")
