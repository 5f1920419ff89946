"""Taking an upload from a source: one code path for a first submission and a follow-up.

The intake must exist before the body is parsed, because every file part
streams straight into it (tipline/web/uploads.py): so whatever the intake
needs (for a first submission, the conversation's keys) is known before the
form is read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flask import current_app, request
from werkzeug.exceptions import BadRequest

from tipline.format.keys import PublicKey
from tipline.store.submissions import Intake, IntakeError
from tipline.store.upload_commit import commit_uploads
from tipline.textmark import N_

from .security import check_origin
from .uploads import UploadRequest

# begin(sealed_by, recipients, max_bytes, max_items) -> the intake the body goes into.
Begin = Callable[[str, Sequence[PublicKey], int, int], Intake]


def sealed_in_browser() -> bool:
    """Whether this upload says its items were sealed in the browser (?sealed=browser)."""
    return request.args.get("sealed") == "browser"


def receive(begin: Begin) -> Intake:
    """Parse the upload into a new intake, check its CSRF token, and commit it; abort it on any failure."""
    t = current_app.extensions["tipline"]
    check_origin(request)
    req: UploadRequest = request  # type: ignore[assignment]
    browser = sealed_in_browser()
    req.sealed_by = "browser" if browser else "server"
    # Envelopes are larger than what they hold (Settings.max_sealed_bytes).
    limit = t.settings.max_sealed_bytes if browser else t.settings.max_upload_bytes
    req.intake = intake = begin(req.sealed_by, t.keyring.active(), limit, t.settings.max_files + 1)
    try:
        try:
            form = request.form  # parsing streams every file part into the intake
        except ValueError:
            raise BadRequest("malformed form data") from None  # Werkzeug's word for a broken body
        # Fields other than the message (an old page's honeypot, an autofill) are ignored,
        # never a reason to drop a tip: see "Spam bots" in docs/threat-model.md.
        t.csrf.check(request, form.get("csrf_token"))
        message = form.get("message", "")
        if browser and message:
            raise IntakeError(
                N_("This page sent an unencrypted message; nothing was kept. Reload and send again.")
            )
        upload_ids = form.getlist("upload")
        if browser and upload_ids:  # the commit of envelopes sent in parts (docs/uploads.md)
            if not commit_uploads(current_app.extensions["tipline_uploads"], upload_ids, intake):
                intake.abort()  # committed before: a retry whose answer was lost
            return intake
        for item in list(intake.items):
            if not browser and item.meta.name == "" and item.empty:  # type: ignore[union-attr]
                intake.drop(item)  # a file field left empty
        if message.strip():
            intake.add_message(message)
        intake.commit()
    except BaseException:
        intake.abort()
        raise
    return intake
