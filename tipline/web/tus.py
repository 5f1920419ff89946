"""tus 1.0.0 for the source app: core, creation, expiration, termination (docs/uploads.md).

Language-neutral (`/uploads`, no prefix) and on the source app only. Each
view parses headers, calls one operation of tipline/store/uploads.py and
answers a short plain-text status; the page shows its own translated
sentence for each. A part's body is copied from the request stream a piece
at a time: Werkzeug never parses or spools it. The app's slow-client guard
(tipline/web/slowbody.py) applies to parts as to every body: a part cut off
keeps nothing and answers 408, and the client asks HEAD and sends it again.
"""

from __future__ import annotations

from email.utils import formatdate

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import Forbidden

from tipline.config import Settings
from tipline.store.submissions import DISK_FULL
from tipline.store.upload_state import (
    CutShort,
    QuotaReached,
    TooLong,
    UnknownUpload,
    UploadBusy,
    UploadError,
    UploadExpired,
    UploadState,
    WrongOffset,
)
from tipline.store.uploads import MAX_PART, PendingUploads, open_uploads

from .logs import log_unexpected
from .security import check_origin
from .slowbody import ClientTooSlow

bp = Blueprint("tus", __name__)

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,expiration,termination"
CSRF_HEADER = "Tipline-CSRF-Token"
PART_TYPE = "application/offset+octet-stream"
# Headers of extensions Tipline does not take: names and types travel sealed (Upload-Metadata,
# refused unless empty: some clients, tuspy among them, always send it, with nothing in it), every
# envelope's length is known before it is sealed (Upload-Defer-Length), and a tip keeps its
# envelopes apart (Upload-Concat).
REFUSED = ("Upload-Metadata", "Upload-Defer-Length", "Upload-Concat")


def _uploads() -> PendingUploads:
    return current_app.extensions["tipline_uploads"]


def _answer(status: int, text: str = "", close: bool = False, **headers: str) -> Response:
    """A plain answer. `close`: the body was not read, so the connection is not kept for another."""
    resp = Response(f"{text}\n" if text and status != 204 else "", status, mimetype="text/plain")
    for name, value in headers.items():
        resp.headers[name.replace("_", "-")] = value
    if close:
        resp.headers["Connection"] = "close"
    return resp


def _expires(st: UploadState) -> str:
    """Upload-Expires in HTTP's date format (tus), always on the hour."""
    return formatdate(st.expires_ts, usegmt=True)


def _number(name: str) -> int | None:
    value = request.headers.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def _refused() -> Response | None:
    """The checks every request that changes something must pass: tus version, origin, CSRF."""
    version = request.headers.get("Tus-Resumable")
    if version is not None and version != TUS_VERSION:
        return _answer(412, "Only tus 1.0.0 is spoken here.", close=True, Tus_Version=TUS_VERSION)
    try:
        check_origin(request)
        current_app.extensions["tipline"].csrf.check(request, request.headers.get(CSRF_HEADER))
    except Forbidden:
        return _answer(403, "Reload the page: its CSRF token or origin was not accepted.", close=True)
    return None


def _failed(e: Exception) -> Response:
    """One answer for each way an upload request fails; no exception text ever reaches it."""
    if isinstance(e, WrongOffset):
        return _answer(409, "That is not the upload's offset.", close=True, Upload_Offset=str(e.offset))
    if isinstance(e, UnknownUpload):
        return _answer(404, "There is no upload at this address.", close=True)
    if isinstance(e, UploadExpired):
        return _answer(410, "This upload expired. Create it again.", close=True)
    if isinstance(e, UploadBusy):
        return _answer(423, "Another request is writing to this upload.", close=True, Retry_After="5")
    if isinstance(e, QuotaReached):
        return _answer(503, "Too much is waiting to be sent. Try later.", Retry_After="3600")
    if isinstance(e, TooLong):
        return _answer(413, "Too large.", close=True)
    if isinstance(e, CutShort):
        if isinstance(e.__cause__, ClientTooSlow):
            return _answer(408, "The part arrived too slowly. Nothing of it was kept.", close=True)
        return _answer(400, "The part ended before its length. Nothing of it was kept.", close=True)
    if isinstance(e, OSError) and e.errno in DISK_FULL:
        current_app.logger.error("storage is full: an upload was refused with 503")
        return _answer(503, "The server's disk is full. Try later.", close=True, Retry_After="3600")
    log_unexpected(current_app.logger, e)
    return _answer(500, "Something went wrong. Try again.", close=True)


@bp.route("/uploads", methods=["OPTIONS"])
def options() -> Response:
    return _answer(
        204,
        Tus_Version=TUS_VERSION,
        Tus_Extension=EXTENSIONS,
        Tus_Max_Size=str(_uploads().max_length),
    )


@bp.post("/uploads")
def create() -> Response:
    refused = _refused()
    if refused is not None:
        return refused
    length = _number("Upload-Length")
    if not length or any(request.headers.get(h, "").strip() for h in REFUSED) or request.content_length:
        return _answer(400, "Send Upload-Length, no Upload-Metadata, and no body.", close=True)
    try:
        st = _uploads().create(length)
    except (UploadError, OSError) as e:
        return _failed(e)
    return _answer(201, Location=f"/uploads/{st.id}", Upload_Expires=_expires(st), Upload_Offset="0")


@bp.route("/uploads/<upload_id>", methods=["HEAD"])
def head(upload_id: str) -> Response:
    try:
        st = _uploads().state(upload_id)
    except (UploadError, OSError) as e:
        return _failed(e)
    return _answer(
        200, Upload_Offset=str(st.offset), Upload_Length=str(st.length), Upload_Expires=_expires(st)
    )


@bp.route("/uploads/<upload_id>", methods=["PATCH"])
def patch(upload_id: str) -> Response:
    refused = _refused()
    if refused is not None:
        return refused
    if request.mimetype != PART_TYPE:
        return _answer(415, f"A part is sent as {PART_TYPE}.", close=True)
    count = request.content_length
    if count is None:
        return _answer(411, "A part needs a Content-Length.", close=True)
    offset = _number("Upload-Offset")
    if offset is None:
        return _answer(400, "A part needs an Upload-Offset.", close=True)
    if count > MAX_PART:
        return _answer(413, "A part is 16 MiB at most.", close=True)
    try:
        st = _uploads().append(upload_id, offset, request.stream, count)
    except (UploadError, OSError) as e:
        return _failed(e)
    return _answer(204, Upload_Offset=str(st.offset), Upload_Expires=_expires(st))


@bp.route("/uploads/<upload_id>", methods=["DELETE"])
def delete(upload_id: str) -> Response:
    refused = _refused()
    if refused is not None:
        return refused
    try:
        _uploads().delete(upload_id)
    except (UploadError, OSError) as e:
        return _failed(e)
    return _answer(204)


def install(app: Flask, settings: Settings) -> None:
    """The uploads folder and the routes, on the source app; every answer under /uploads says tus."""
    # The folder is made at the first creation: a tip line whose page never sends in parts has none.
    app.extensions["tipline_uploads"] = open_uploads(settings)
    app.register_blueprint(bp)  # no language prefix: nothing here is a page

    @app.after_request
    def _tus_headers(resp: Response) -> Response:
        if request.path == "/uploads" or request.path.startswith("/uploads/"):
            resp.headers["Tus-Resumable"] = TUS_VERSION
            resp.headers["Cache-Control"] = "no-store"
        return resp
