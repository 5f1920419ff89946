"""Uploads in parts over real HTTP, served by a real gunicorn (docs/uploads.md).

Every refusal must change nothing: the tests compare every name and byte under
store/pending/ before and after. Envelopes are sealed here exactly as the page
seals them, and the tips that come out are decrypted with the real offline tool.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from urllib.parse import urlencode

import pytest

from tests.conftest import submission_folders
from tests.web.conversations import store
from tests.web.server import first_tip_headers, raw
from tests.web.tus_client import (
    MIB,
    Tus,
    cookie_header,
    expire,
    file_envelope,
    message_envelope,
    pending,
    random_bytes,
    reply,
    uploads_dir,
)

MARKER = b"PLAINTEXT-MARKER-tus-91c4"
HOUR_HEADER = re.compile(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:00:00 GMT")


@pytest.fixture
def tus(server) -> Tus:
    return Tus(server)


def envelopes_stored(server) -> dict[str, bytes]:
    return {k: v for k, v in server.stored().items() if k.startswith("submissions/")}


# -- the protocol ------------------------------------------------------------------------------


def test_options_advertises_tus(server):
    r = server.request("OPTIONS", "/uploads")
    assert r.status == 204 and r.body == b""
    assert r.header("Tus-Resumable") == "1.0.0" and r.header("Tus-Version") == "1.0.0"
    assert r.header("Tus-Extension") == "creation,expiration,termination"
    assert int(r.header("Tus-Max-Size")) == 500 * MIB * 112 // 100 + 21 * 8192
    assert r.header("Cache-Control") == "no-store"


def test_every_answer_says_tus_and_no_store(server, tus):
    for r in (
        tus.request("POST", "/uploads"),  # no Upload-Length
        tus.head("A" * 22),
        server.request("GET", "/uploads"),  # 405
        server.request("HEAD", "/uploads/a/b"),  # no such route
        tus.request("POST", "/uploads", Upload_Length="1", Tus_Resumable="0.2.2"),
    ):
        assert r.header("Tus-Resumable") == "1.0.0" and r.header("Cache-Control") == "no-store", r.status
        assert b"Traceback" not in r.body
    assert tus.request("POST", "/uploads", Upload_Length="1", Tus_Resumable="0.2.2").status == 412


def test_routes_need_no_language_prefix_and_are_not_under_one(server, tus):
    assert server.request("OPTIONS", "/uploads").status == 204
    assert server.request("OPTIONS", "/es/uploads").status != 204


def test_full_flow_in_parts_decrypts_byte_for_byte(server, tus, keydir, export_and_decrypt):
    content = MARKER + random_bytes(3 * MIB + 12345)
    text = "the message, sent in parts " + MARKER.decode()
    envs = [message_envelope(keydir, text), file_envelope(keydir, content, "big leak.bin")]
    before = server.submission_count()
    r = tus.create(len(envs[1]))
    # Each answer: the hour it expires, to the hour, and the part's new offset once synced.
    upload_id = r
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", upload_id)
    head = tus.head(upload_id)
    assert head.status == 200 and head.header("Upload-Offset") == "0"
    assert head.header("Upload-Length") == str(len(envs[1]))
    assert HOUR_HEADER.fullmatch(head.header("Upload-Expires"))
    offset = 0
    for size in (MIB, 2 * MIB, len(envs[1]) - 3 * MIB):
        r = tus.patch(upload_id, offset, envs[1][offset : offset + size])
        assert r.status == 204 and HOUR_HEADER.fullmatch(r.header("Upload-Expires"))
        offset += size
        assert r.header("Upload-Offset") == str(offset) == tus.head(upload_id).header("Upload-Offset")
    message_id = tus.send(envs[0])
    # Nothing a journalist could see before the commit: the store lists what the journalist app lists.
    listed = {s.id for s in store(server).store.list()}
    assert server.submission_count() == before == len(listed)
    held = (uploads_dir(server) / upload_id).read_bytes()
    assert held == envs[1] and MARKER not in held

    r = tus.commit([message_id, upload_id])
    assert r.status == 200 and reply(r) == {"ok": True}
    assert server.submission_count() == before + 1
    (new,) = [s for s in store(server).store.list() if s.id not in listed]
    assert (new.item_count, new.sealed_by) == (2, "browser")
    stored = envelopes_stored(server)
    assert envs[0] in stored.values() and envs[1] in stored.values()
    # The uploads' data went; their markers stay until they expire, and say nothing but that.
    names = {p.name for p in uploads_dir(server).iterdir()}
    assert upload_id not in names and f"{upload_id}.done" in names and f"{upload_id}.json" in names
    assert (uploads_dir(server) / f"{upload_id}.done").read_bytes() == b""
    assert tus.head(upload_id).status == 404

    out = export_and_decrypt(server)
    (sub,) = [d for d in submission_folders(out).values() if (d / "files" / "big leak.bin").exists()]
    assert (sub / "files" / "big leak.bin").read_bytes() == content
    assert (sub / "message.txt").read_text() == text
    assert json.loads((sub / "items.json").read_text())["sealed_by"] == "browser"


def test_creation_refusals(server, tus):
    before = pending(server)
    for headers, status in (
        ({}, 400),
        ({"Upload_Length": "-1"}, 400),
        ({"Upload_Length": "12abc"}, 400),
        ({"Upload_Length": "0"}, 400),  # an envelope is never empty
        ({"Upload_Length": str(10**15)}, 413),
        ({"Upload_Length": "100", "Upload_Metadata": "filename ZG9jLnBkZg=="}, 400),
        ({"Upload_Defer_Length": "1"}, 400),
    ):
        r = tus.request("POST", "/uploads", **headers)
        assert r.status == status, (headers, r.status)
    assert tus.request("POST", "/uploads", b"body", Upload_Length="4").status == 400
    assert pending(server) == before
    # An empty Upload-Metadata carries nothing: tuspy always sends one (bench/tus_client.py).
    assert tus.request("POST", "/uploads", Upload_Length="4", Upload_Metadata="").status == 201


def test_delete_cancels(server, tus):
    upload_id = tus.send(random_bytes(1000), upto=500)
    assert tus.request("DELETE", f"/uploads/{upload_id}").status == 204
    assert not any(p.name.startswith(upload_id) for p in uploads_dir(server).iterdir())
    assert tus.head(upload_id).status == 404
    assert tus.request("DELETE", f"/uploads/{upload_id}").status == 404


HOSTILE = [
    "..%2F..%2Fkeys",
    "%2e%2e",
    "A" * 21 + ".",
    "A" * 22 + ".json",
    "A" * 23,
    ".lock",
    "A" * 22 + "%00",
]


@pytest.mark.parametrize(
    "case",
    [
        "duplicate",
        "out_of_order",
        "behind",
        "past_length",
        "unknown",
        "wrong_type",
        "bad_offset",
        "no_token",
        "foreign_origin",
        "expired",
        *(f"hostile{i}" for i in range(len(HOSTILE))),
    ],
)
def test_refused_parts_change_nothing(server, tus, case):
    data = random_bytes(3000)
    upload_id = tus.send(data, part=1000, upto=2000)
    if case == "expired":
        expire(server, upload_id)
    before = pending(server)
    path_id, offset, part, headers = upload_id, 2000, data[2000:], {}
    expected = {
        "duplicate": (409, lambda: dict(offset=1000, part=data[1000:2000])),
        "out_of_order": (409, lambda: dict(offset=2500, part=data[2500:])),
        "behind": (409, lambda: dict(offset=0, part=data[:1000])),
        "past_length": (413, lambda: dict(part=data[2000:] + b"x")),
        "unknown": (404, lambda: dict(path_id="B" * 22)),
        "wrong_type": (415, lambda: dict(headers={"Content-Type": "application/octet-stream"})),
        "bad_offset": (400, lambda: dict(headers={"Upload-Offset": "-5"})),
        "no_token": (403, lambda: dict(headers={"Tipline-CSRF-Token": "0" * 64})),
        "foreign_origin": (403, lambda: dict(headers={"Origin": "http://evil.example"})),
        "expired": (410, dict),
    }
    if case.startswith("hostile"):
        status, change = 404, (lambda: dict(path_id=HOSTILE[int(case[7:])]))
    else:
        status, change = expected[case]
    args = dict(path_id=path_id, offset=offset, part=part, headers=headers) | change()
    r = tus.patch(args["path_id"], args["offset"], args["part"], **args["headers"])
    assert r.status == status, (r.status, r.body)
    assert r.header("Tus-Resumable") == "1.0.0" and b"Traceback" not in r.body
    if status == 409:
        assert r.header("Upload-Offset") == "2000"
    assert pending(server) == before
    if case != "expired":
        assert tus.head(upload_id).header("Upload-Offset") == "2000"
    else:
        assert tus.head(upload_id).status == 410


def test_part_over_16_mib_refused_from_its_header(server, tus):
    upload_id = tus.create(20 * MIB)
    before = pending(server)
    head = (
        f"PATCH /uploads/{upload_id} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
        f"Cookie: {cookie_header(server)}\r\nTipline-CSRF-Token: {tus.token}\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
        f"Content-Length: {16 * MIB + 1}\r\n\r\n"
    ).encode()
    answer = raw(server, head + b"x" * 1000, close_after=False)
    assert answer.startswith(b"HTTP/1.1 413")
    assert pending(server) == before


def test_part_without_length_refused(server, tus):
    upload_id = tus.create(100)
    before = pending(server)
    head = (
        f"PATCH /uploads/{upload_id} HTTP/1.1\r\nHost: x\r\nCookie: {cookie_header(server)}\r\n"
        f"Tipline-CSRF-Token: {tus.token}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Upload-Offset: 0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    ).encode()
    assert raw(server, head).startswith(b"HTTP/1.1 411")
    assert pending(server) == before


def test_body_cut_short_keeps_nothing_of_that_part(server, tus):
    data = random_bytes(600_000)
    upload_id = tus.send(data, part=200_000, upto=200_000)
    before = pending(server)
    head = (
        f"PATCH /uploads/{upload_id} HTTP/1.1\r\nHost: x\r\nCookie: {cookie_header(server)}\r\n"
        f"Tipline-CSRF-Token: {tus.token}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Upload-Offset: 200000\r\nContent-Length: 400000\r\n\r\n"
    ).encode()
    answer = raw(server, head + data[200_000:400_000])  # half the part, then the connection closes
    assert not answer.startswith(b"HTTP/1.1 204")
    # The server finishes with that request in its own time: until then HEAD says it is busy (423).
    for _ in range(200):
        r = tus.head(upload_id)
        if r.status != 423:
            break
        time.sleep(0.05)
    assert r.status == 200 and r.header("Upload-Offset") == "200000"
    assert pending(server) == before
    assert tus.patch(upload_id, 200_000, data[200_000:]).status == 204  # and it goes on from there
    assert (uploads_dir(server) / upload_id).read_bytes() == data


# -- the commit ----------------------------------------------------------------------------------


def test_commit_of_an_incomplete_upload_is_409_naming_it(server, tus, keydir):
    env = file_envelope(keydir, random_bytes(100_000))
    done, half = tus.send(message_envelope(keydir, "hi")), tus.send(env, upto=50_000)
    before = (server.submission_count(), pending(server))
    r = tus.commit([done, half])
    assert r.status == 409 and reply(r)["incomplete"] == [half] and reply(r)["ok"] is False
    assert reply(r)["error"]
    assert (server.submission_count(), pending(server)) == before
    assert tus.patch(half, 50_000, env[50_000:]).status == 204
    assert tus.commit([done, half]).status == 200


@pytest.mark.parametrize("case", ["expired", "unknown", "hostile"])
def test_commit_of_an_expired_or_unknown_upload_is_410(server, tus, keydir, case):
    good = tus.send(message_envelope(keydir, "hi"))
    other = {"expired": tus.send(file_envelope(keydir, b"x")), "unknown": "C" * 22, "hostile": "../keys"}[
        case
    ]
    if case == "expired":
        expire(server, other)
    before = (server.submission_count(), pending(server))
    r = tus.commit([good, other])
    assert r.status == 410 and reply(r)["gone"] == [other]
    assert (server.submission_count(), pending(server)) == before


@pytest.mark.parametrize("case", ["garbage", "truncated_envelope", "wrong_key", "cut_header"])
def test_commit_of_a_damaged_envelope_is_400_and_keeps_nothing(server, tus, keydir, case):
    from tipline.format.keys import SecretKey
    from tipline.format.payload import Metadata
    from tipline.format.stream import seal_bytes

    good = message_envelope(keydir, "hi")
    bad = {
        "garbage": random_bytes(5000),
        "truncated_envelope": file_envelope(keydir, b"y" * 9000)[:-100],
        "wrong_key": seal_bytes(b"x", Metadata("message"), [SecretKey.generate().public_key]),
        "cut_header": good[:60],
    }[case]
    ids = [tus.send(good), tus.send(bad)]
    before = (server.submission_count(), envelopes_stored(server))
    r = tus.commit(ids)
    assert r.status == 400 and "Nothing was kept" in reply(r)["error"]
    assert (server.submission_count(), envelopes_stored(server)) == before
    # Both uploads went, and no intake folder is left: nothing of the tip stays.
    assert not any(p.name.startswith(tuple(ids)) for p in uploads_dir(server).iterdir())
    assert [k for k in pending(server) if not k.startswith("uploads")] == []


def test_commit_refusals_keep_the_uploads(server, tus, keydir):
    upload_id = tus.send(message_envelope(keydir, "hi"))
    before = (server.submission_count(), pending(server))
    no_csrf = Tus(server)
    no_csrf.token = "0" * 64
    assert no_csrf.commit([upload_id]).status == 403
    assert tus.commit([upload_id, upload_id]).status == 400  # the same upload twice
    assert tus.commit([upload_id], headers={}).status == 400  # a first tip without its codename's key
    body = urlencode({"csrf_token": tus.token, "upload": upload_id, "message": "in the clear"}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **first_tip_headers()}
    assert server.request("POST", "/submit?sealed=browser", body, headers).status == 400
    assert (server.submission_count(), pending(server)) == before


def test_a_retried_commit_answers_ok_and_stores_once(server, tus, keydir):
    ids = [tus.send(message_envelope(keydir, "retry me")), tus.send(file_envelope(keydir, b"z" * 70000))]
    before = server.submission_count()
    headers = first_tip_headers()
    assert tus.commit(ids, headers=headers).status == 200
    stored = envelopes_stored(server)
    r = tus.commit(ids, headers=headers)  # the first answer was lost
    assert r.status == 200 and reply(r) == {"ok": True}
    assert server.submission_count() == before + 1 and envelopes_stored(server) == stored
    assert [k for k in pending(server) if not k.startswith("uploads")] == []


def test_two_concurrent_commits_store_one_submission(server, tus, keydir):
    ids = [
        tus.send(message_envelope(keydir, "twice")),
        tus.send(file_envelope(keydir, random_bytes(2 * MIB))),
    ]
    before = server.submission_count()
    headers = first_tip_headers()
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(tus.commit(ids, headers=headers))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in answers) == [200] * 4, [r.body for r in answers]
    assert server.submission_count() == before + 1


def test_old_single_request_path_still_works(server, keydir):
    from tests.web.test_source_http import browser_post

    r = browser_post(server, [message_envelope(keydir, "one request, as before")])
    assert r.status == 200 and reply(r) == {"ok": True}


# -- what the disk keeps ------------------------------------------------------------------------


def copy_as_attacker(root) -> tuple[dict, dict]:
    """Every path's times first (reading a file or a folder may move its atime), then every byte,
    as tests/store/test_forensics.py copies the data folder."""
    times, files, todo = {}, {}, [root]
    while todo:
        path = todo.pop()
        st = os.lstat(path)
        times[path] = st
        if stat.S_ISDIR(st.st_mode):
            todo += sorted(path.iterdir())
    for path, st in times.items():
        if stat.S_ISREG(st.st_mode):
            files[path] = path.read_bytes()
    return times, files


def test_pending_keeps_only_the_hour_and_no_plaintext(server, tus, keydir):
    content = MARKER * 3000
    tus.send(file_envelope(keydir, content), part=10_000, upto=30_000)
    tus.send(message_envelope(keydir, MARKER.decode()))
    tus.head(tus.send(file_envelope(keydir, b"q"), part=100))
    times, files = copy_as_attacker(server.data_dir / "store" / "pending")
    hour = 3600 * 10**9
    fine = [str(p) for p, st in times.items() if st.st_mtime_ns % hour or st.st_atime_ns % hour]
    assert fine == []
    assert [p for p, data in files.items() if MARKER in data] == []
    for p, st in times.items():
        if stat.S_ISREG(st.st_mode):
            assert oct(st.st_mode & 0o777) == "0o600", p  # 0o660 less the test server's umask, 0o077
        if p.name.endswith(".json"):
            doc = json.loads(files[p])
            assert set(doc) == {"v", "length", "expires"} and re.fullmatch(
                r"\d{4}-\d\d-\d\dT\d\d:00Z", doc["expires"]
            )


def test_a_follow_up_commits_from_parts_too(server, keydir):
    from tests.web.conversations import first_tip, login

    typed = first_tip(server, "a first tip, JavaScript off")
    assert login(server, typed).status == 200
    try:
        tus = Tus(server)
        ids = [
            tus.send(message_envelope(keydir, "more, in parts")),
            tus.send(file_envelope(keydir, b"f" * 9000)),
        ]
        before = server.submission_count()
        r = tus.commit(ids, path="/conversation/send?sealed=browser", headers={})
        assert r.status == 200 and reply(r) == {"ok": True, "next": "/thanks"}
        assert server.submission_count() == before + 1
    finally:
        server.cookies.pop("tipline-source", None)


def test_the_journalist_app_has_no_upload_routes(tmp_path, keydir):
    from tipline.config import load_settings
    from tipline.web.app import create_journalist_app, create_source_app

    settings = load_settings(tmp_path / "data")
    routes = {r.rule for r in create_journalist_app(settings).url_map.iter_rules()}
    assert not [r for r in routes if "upload" in r]
    routes = {r.rule for r in create_source_app(settings).url_map.iter_rules()}
    assert {"/uploads", "/uploads/<upload_id>"} <= routes


def purge(srv, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tipline.cli", "purge", "--data-dir", str(srv.data_dir), *flags],
        capture_output=True,
        text=True,
    )


def test_restart_keeps_unfinished_uploads_and_purge_removes_expired(server):
    """Last in this module: it restarts the module's server."""
    tus = Tus(server)
    keep, old = tus.send(random_bytes(5000), upto=3000), tus.send(random_bytes(5000), upto=1000)
    server.stop()
    intake = server.data_dir / "store" / "pending" / "halfway"
    intake.mkdir()
    (intake / "1.part").write_bytes(b"ciphertext")
    server.start()
    assert not intake.exists()  # a tip in one request, never acknowledged: gone
    assert tus.head(keep).header("Upload-Offset") == "3000"
    assert tus.head(old).header("Upload-Offset") == "1000"
    expire(server, old)
    r = purge(server, "--uploads-only")
    assert r.returncode == 0 and "Removed 1 unfinished upload(s)" in r.stdout, r.stderr
    assert not any(p.name.startswith(old) for p in uploads_dir(server).iterdir())
    assert tus.head(keep).status == 200 and tus.head(old).status == 404
    # Without any retention, purge still does that (silent when none expired), then says what else it needs.
    r = purge(server)
    assert r.returncode == 2 and "--older-than" in r.stderr and r.stdout == ""
    # All this module's requests, refusals and cut-off parts: not one traceback or upload id logged.
    log = server.log_path.read_text()
    assert "Traceback" not in log and keep not in log and old not in log
