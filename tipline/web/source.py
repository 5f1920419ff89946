"""The source's form, and the first submission, which opens a conversation.

With JavaScript on, the browser made the codename and sends only the public
key and the login verifier, in two headers (the intake needs them before the
body is parsed: tipline/web/intake.py). With it off, the server makes the
codename, derives in memory, and answers this POST with the page that shows
it: never a redirect, so the codename is in no URL, and it is kept nowhere.
"""

from __future__ import annotations

import base64

from flask import Blueprint, current_app, jsonify, render_template, request

from tipline.format import codename
from tipline.store.submissions import IntakeError
from tipline.textmark import N_

from .intake import receive, sealed_in_browser
from .login import key_from_field

bp = Blueprint("source", __name__)

SOURCE_KEY_HEADER = "Tipline-Source-Public-Key"
VERIFIER_HEADER = "Tipline-Verifier"


def _ctx():
    return current_app.extensions["tipline"]


def _side():
    return current_app.extensions["tipline_source"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def form_context() -> dict:
    """What every page with the sending form needs: the journalists' keys and the limits."""
    t = _ctx()
    keys = t.keyring.active()
    return {
        "recipients": ",".join(base64.b64encode(k.raw).decode() for k in keys),
        "max_bytes": t.settings.max_upload_bytes,
        "max_files": t.settings.max_files,
        "accepting": bool(keys),
        "fingerprints": [k.fingerprint for k in keys],  # for a careful source to check (docs/newsroom.md)
        "scripts": t.scripts_ready,
        "install_salt": b64url(_side().install_salt),
    }


@bp.get("/")
def index():
    return _ctx().csrf.page(request, "submit.html", **form_context())


class OldPage(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            N_(
                "This page is out of date and sent no codename for your tip. Nothing was kept. "
                "Reload the page and send again."
            )
        )


def _browser_keys() -> tuple[bytes, bytes]:
    """The public key and verifier a browser made from its codename (base64url, 32 bytes each)."""
    key = key_from_field(request.headers.get(SOURCE_KEY_HEADER, ""))
    verifier = key_from_field(request.headers.get(VERIFIER_HEADER, ""))
    if key is None or verifier is None:
        raise OldPage
    return key, verifier


@bp.post("/submit")
def submit():
    side = _side()
    made = None
    if sealed_in_browser():
        public_key, verifier = _browser_keys()
    else:
        made = codename.new_codename()
        derived = codename.derive(made, side.install_salt)
        public_key, verifier = derived.public_key, derived.verifier
        del derived
    vhash = codename.verifier_hash(verifier)
    receive(
        lambda sealed_by, recipients, limit, items: side.conversations.begin_first(
            sealed_by, recipients, limit, items, public_key, vhash
        )
    )
    if made is None:
        return jsonify(ok=True)
    return render_template("codename.html", codename=made)


@bp.get("/thanks")
def thanks():
    """After a follow-up: the message arrived; the way back is the codename the source holds."""
    return render_template("thanks.html")


@bp.get("/guide")
def guide():
    """The guide for sources: how to stay safe, and what we can and cannot see. Text only."""
    return render_template("guide.html")
