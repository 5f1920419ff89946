"""The pending uploads' quota holds under parallel creations in several gunicorn workers,
with the submissions in SQLite and in PostgreSQL (docs/uploads.md "The quota"); and the
slow-client guard cuts off a stalled part with a clear answer, keeping nothing of it."""

from __future__ import annotations

import threading

import pytest

from tests.postgres import new_database, pg_url  # noqa: F401 (a fixture)
from tests.web.newsroom import newsroom_secret
from tests.web.server import fill_disk, make_server, raw
from tests.web.tus_client import (
    Tus,
    cookie_header,
    file_envelope,
    message_envelope,
    pending,
    reply,
    uploads_dir,
)
from tipline.format.stream import decrypt_bytes

MIB = 1024 * 1024
# body_idle_s = 1: a part whose body stalls for a second is cut off (tipline/web/slowbody.py).
SETTINGS = "max_upload_mb = 1\nmax_pending_mb = 3\nmax_pending_uploads = 5\nworkers = 3\nbody_idle_s = 1\n"


def parallel_creations(tus: Tus, n: int, length: int) -> list:
    answers, gate = [], threading.Barrier(n)

    def one() -> None:
        gate.wait()
        answers.append(tus.request("POST", "/uploads", Upload_Length=str(length)))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def waiting(srv) -> list[str]:
    """The uploads that count against the quota: a sidecar without a commit marker."""
    names = {p.name for p in uploads_dir(srv).iterdir()}
    return [n for n in names if n.endswith(".json") and n.replace(".json", ".done") not in names]


def stalled_part_is_cut_off(srv, tus: Tus) -> None:
    """Half a part, then nothing: after body_idle_s the server answers 408 and keeps none of it."""
    upload_id = tus.create(4000)
    assert tus.patch(upload_id, 0, b"a" * 1000).status == 204
    before = pending(srv)
    head = (
        f"PATCH /uploads/{upload_id} HTTP/1.1\r\nHost: x\r\nCookie: {cookie_header(srv)}\r\n"
        f"Tipline-CSRF-Token: {tus.token}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Upload-Offset: 1000\r\nContent-Length: 3000\r\n\r\n"
    ).encode()
    answer = raw(srv, head + b"b" * 1500, close_after=False)  # the connection stays open, silent
    assert answer.startswith(b"HTTP/1.1 408") and b"Tus-Resumable: 1.0.0" in answer
    assert pending(srv) == before and tus.head(upload_id).header("Upload-Offset") == "1000"


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_parallel_creations_cannot_pass_the_quota(db, request, tmp_path, keydir):
    srv = make_server(tmp_path, keydir / "journalist.pub")
    settings = SETTINGS
    if db == "postgresql":
        url = new_database(request.getfixturevalue("pg_url"), "uploads_quota")
        settings += f'database_url = "{url}"\n'
    srv.data_dir.joinpath("tipline.toml").write_text(settings)
    srv.start()
    try:
        tus = Tus(srv)
        # A tip committed first: it takes nothing of the quota, and stays whatever happens after.
        r = tus.commit([tus.send(message_envelope(keydir, "committed before the rush"))])
        assert r.status == 200 and reply(r) == {"ok": True}

        # By number: 5 of 16 small uploads at once.
        answers = parallel_creations(tus, 16, 1000)
        assert sorted(r.status for r in answers) == [201] * 5 + [503] * 11
        assert {r.header("Retry-After") for r in answers if r.status == 503} == {"3600"}
        assert len(waiting(srv)) == 5
        for r in answers:
            if r.status == 201:
                assert tus.request("DELETE", r.header("Location")).status == 204

        # By declared length: 3 MiB hold 4 of 700 000 bytes, whatever the workers.
        answers = parallel_creations(tus, 16, 700_000)
        assert sorted(r.status for r in answers) == [201] * 4 + [503] * 12
        assert len(waiting(srv)) == 4
        # What is held stays usable: one of them is sent whole and committed.
        env = file_envelope(keydir, b"w" * 600_000)
        r = tus.request("POST", "/uploads", Upload_Length=str(len(env)))
        assert r.status == 503  # still full
        first = next(r for r in answers if r.status == 201).header("Location")
        assert tus.request("DELETE", first).status == 204
        r = tus.commit([tus.send(env, part=256 * 1024)])
        assert r.status == 200
        stalled_part_is_cut_off(srv, tus)
    finally:
        srv.stop()
    # Both tips are whole (test_uploads_http.py decrypts one with the real export and offline tool).
    secret = newsroom_secret(keydir)
    opened = sorted(decrypt_bytes(p.read_bytes(), [secret])[1] for p in srv.data_dir.rglob("*.envelope"))
    assert opened == [b"committed before the rush", b"w" * 600_000]


def test_a_full_disk_refuses_parts_and_commits_with_503_and_the_uploads_stay(tmp_path, keydir, small_disk):
    srv = make_server(tmp_path, keydir / "journalist.pub").start()
    try:
        tus = Tus(srv)
        env = file_envelope(keydir, b"d" * 1_500_000)
        ids = [tus.send(message_envelope(keydir, "sent before the disk filled")), tus.send(env)]
        later = tus.create(500_000)
        fill_disk(small_disk / "filler")
        before = pending(srv)
        r = tus.patch(later, 0, b"p" * 500_000)
        assert r.status == 503 and r.header("Retry-After") == "3600"
        r = tus.commit(ids)
        assert r.status == 503 and reply(r)["ok"] is False
        assert pending(srv) == before and srv.submission_count() == 0
        assert tus.head(later).header("Upload-Offset") == "0"
        (small_disk / "filler").unlink()  # space returns: the same commit goes through
        r = tus.commit(ids)
        assert r.status == 200 and srv.submission_count() == 1
    finally:
        srv.stop()
    assert "Traceback" not in srv.log_path.read_text()
