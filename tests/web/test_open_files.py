"""No plaintext in an unnamed temporary file: every file a worker holds while a body is mid-flight.

Werkzeug spools a large upload to tempfile.TemporaryFile, which on Linux has
no name (O_TMPFILE), so the folder watch of the other tests cannot see it
(tests/web/openfiles.py says why). Here a real upload is sent slowly through
real gunicorn, held back before its last bytes, and every descriptor of every
worker is listed and read through /proc meanwhile, and every file a worker
writes and closes is caught as it closes (fanotify): anything but the store's
envelopes, the database, the secret files, the log and the code fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
from urllib.parse import urlencode

import pytest

from tests.store.conversation_helpers import reply_envelope
from tests.web.closedfiles import ClosedFiles
from tests.web.conversations import first_tip, login, token
from tests.web.diskwatch import DiskWatch
from tests.web.newsroom import login as journalist_login
from tests.web.newsroom import reply_rows, start_newsroom, token_of, unknown_id
from tests.web.openfiles import OpenFileWatch, open_files, read_through, send_slowly
from tests.web.server import multipart
from tipline.store.replies import MAX_REPLY_ENVELOPE, MAX_REPLY_TEXT

SESSION = "tipline-source"
MiB = 1 << 20


def marked_file(marker: bytes, size: int) -> bytes:
    """`size` bytes with the marker every 4 KiB, so any piece of a copy of it shows the leak."""
    block = marker + b"." * (4096 - len(marker))
    return (block * (size // 4096 + 1))[:size]


def pending_parts(watch: OpenFileWatch) -> list[str]:
    return [t for t in watch.seen if "/store/pending/" in t and t.endswith(".part")]


def test_the_watch_sees_an_unnamed_temporary_file_that_a_folder_watch_misses(tmp_path):
    """What the tests below rely on: a TemporaryFile (O_TMPFILE) is invisible to inotify, not to /proc."""
    marker = b"MARKER-unnamed-" + unknown_id().encode()
    holder = (
        "import sys, tempfile\n"
        "f = tempfile.TemporaryFile(dir=sys.argv[1])\n"
        "f.write(sys.argv[2].encode()); f.flush()\n"
        "print('ready', flush=True); sys.stdin.read()\n"
    )
    with DiskWatch([tmp_path]) as folder_watch:
        child = subprocess.Popen(
            [sys.executable, "-c", holder, str(tmp_path), marker.decode()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout.readline() == "ready\n"
            held = [read_through(f) for f in open_files(child.pid) if f.target.startswith(str(tmp_path))]
        finally:
            child.communicate("")
    assert folder_watch.created == [] and list(tmp_path.iterdir()) == []  # no name, ever
    (f,) = held
    assert f.tmpfile and re.fullmatch(re.escape(str(tmp_path)) + r"/#\d+ \(deleted\)", f.target)
    assert f.content == marker


def test_a_temporary_file_closed_at_once_is_caught_as_it_closes(tmp_path):
    """Between two looks at the descriptors a short-lived file is gone: fanotify still hands it over."""
    marker = b"MARKER-closed-" + unknown_id().encode()
    writer = (
        "import sys, tempfile\n"
        "with tempfile.TemporaryFile(dir=sys.argv[1]) as f:\n"
        "    f.write(sys.argv[2].encode())\n"
        "print('closed', flush=True); sys.stdin.read()\n"
    )
    child: subprocess.Popen | None = None
    with ClosedFiles([tmp_path], lambda: {child.pid} if child else set()) as watch:
        child = subprocess.Popen(
            [sys.executable, "-c", writer, str(tmp_path), marker.decode()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout.readline() == "closed\n"
            assert [f for f in open_files(child.pid) if f.target.startswith(str(tmp_path))] == []
        finally:
            child.communicate("")
    (closed,) = [c for c in watch.closed if c.target.startswith(str(tmp_path))]
    assert re.fullmatch(re.escape(str(tmp_path)) + r"/#\d+ \(deleted\)", closed.target)
    assert closed.content == marker


# -- the source app ---------------------------------------------------------------------------


def test_no_js_first_tip_with_a_large_file_holds_no_temporary_file(server):
    marker = b"MARKER-first-tip-" + unknown_id().encode()
    body, ctype = multipart(
        [("csrf_token", token(server)), ("message", f"A first tip {marker.decode()}")],
        [("files", "large.pdf", marked_file(marker, 4 * MiB), "application/pdf")],
    )
    before = server.submission_count()
    with OpenFileWatch(server, marker) as watch:
        r = send_slowly(server, "/submit", body, ctype, watch)
    report = watch.report()
    assert not report, report
    assert r.status == 200 and b'id="codename"' in r.body
    assert server.submission_count() == before + 1
    assert pending_parts(watch)  # the watch saw the upload's own envelope open in a worker


def test_no_js_follow_up_with_a_large_file_holds_no_temporary_file(server):
    words = first_tip(server, "a tip before the follow-up")
    assert login(server, words).status == 200 and SESSION in server.cookies
    marker = b"MARKER-follow-up-" + unknown_id().encode()
    body, ctype = multipart(
        [("csrf_token", token(server, "/conversation")), ("message", f"More {marker.decode()}")],
        [("files", "more.bin", marked_file(marker, 3 * MiB), "application/octet-stream")],
    )
    before = server.submission_count()
    try:
        with OpenFileWatch(server, marker) as watch:
            r = send_slowly(server, "/conversation/send", body, ctype, watch)
    finally:
        server.cookies.pop(SESSION, None)
    report = watch.report()
    assert not report, report
    assert r.status == 303 and r.header("Location") == "/thanks"
    assert server.submission_count() == before + 1
    assert pending_parts(watch)


# -- the journalist app -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def room(tmp_path_factory, keydir):
    nr = start_newsroom(tmp_path_factory.mktemp("room"), keydir)
    yield nr
    nr.stop()


@pytest.fixture
def j(room, request):
    """The journalist app, logged in as a journalist of this test's own (a TOTP code works once)."""
    name = room.enrol(re.sub(r"[^a-z0-9]", "", request.node.name.lower())[-30:])
    journalist_login(room.journalist, name, room.totp[name])
    return room.journalist


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_js_off_reply_near_the_limit_holds_no_temporary_file(room, j, encoding):
    """The form posts urlencoded, as a browser does; multipart fields must stay in memory too."""
    cid, _ = room.open_conversation("a tip to reply to")
    marker = b"MARKER-reply-" + unknown_id().encode()
    text = marked_file(marker, MAX_REPLY_TEXT - 16).decode()
    fields = [("csrf_token", token_of(j, f"/conversations/{cid}")), ("message", text)]
    if encoding == "urlencoded":
        body, ctype = urlencode(fields).encode(), "application/x-www-form-urlencoded"
    else:
        body, ctype = multipart(fields)
    with OpenFileWatch(j, marker) as watch:
        r = send_slowly(j, f"/conversations/{cid}/reply", body, ctype, watch, piece=8192)
    report = watch.report()
    assert not report, report
    assert r.status == 303 and r.header("Location") == f"/conversations/{cid}?sent=1"
    assert [row[3] for row in reply_rows(room.data_dir) if row[1] == cid] == ["server"]


def test_reply_envelope_upload_holds_no_temporary_file(room, j):
    cid, source = room.open_conversation("a tip answered offline")
    marker = b"MARKER-envelope-" + unknown_id().encode()
    text = marked_file(marker, MAX_REPLY_ENVELOPE - 4096).decode()
    envelope = reply_envelope(text, source.public_key, room.newsroom_key)
    assert marker not in envelope
    body, ctype = multipart(
        [("csrf_token", token_of(j, f"/conversations/{cid}"))],
        [("envelope", "reply.envelope", envelope, "application/octet-stream")],
    )
    with OpenFileWatch(j, marker) as watch:
        r = send_slowly(j, f"/conversations/{cid}/envelope", body, ctype, watch, piece=8192)
    report = watch.report()
    assert not report, report
    assert r.status == 303 and r.header("Location") == f"/conversations/{cid}?sent=1"
    assert [row[3] for row in reply_rows(room.data_dir) if row[1] == cid] == ["offline"]
    assert any(t.endswith("/reply.envelope") and "/store/pending/" in t for t in watch.seen)


def test_a_file_part_in_a_reply_form_never_reaches_a_temporary_file(room, j):
    """The reply form takes no files: one sent anyway is refused at its first bytes, never spooled."""
    cid, _ = room.open_conversation("a tip with a stray file")
    marker = b"MARKER-spool-" + unknown_id().encode()
    body, ctype = multipart(
        [("csrf_token", token_of(j, f"/conversations/{cid}")), ("message", "hello")],
        [("extra", "x.bin", marked_file(marker, 900_000), "text/plain")],
    )
    with OpenFileWatch(j, marker) as watch:
        r = send_slowly(j, f"/conversations/{cid}/reply", body, ctype, watch)
    report = watch.report()
    assert not report, report
    assert r.status == 400 and b"Something in what was sent was not right" in r.body
    assert [row for row in reply_rows(room.data_dir) if row[1] == cid] == []
