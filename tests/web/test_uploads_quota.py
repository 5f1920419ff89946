"""The pending uploads' quota holds under parallel creations in several gunicorn workers,
with the submissions in SQLite and in PostgreSQL (docs/uploads.md "The quota")."""

from __future__ import annotations

import threading

import pytest

from tests.postgres import new_database, pg_url  # noqa: F401 (a fixture)
from tests.web.newsroom import newsroom_secret
from tests.web.server import make_server
from tests.web.tus_client import Tus, file_envelope, message_envelope, reply, uploads_dir
from tipline.format.stream import decrypt_bytes

MIB = 1024 * 1024
SETTINGS = "max_upload_mb = 1\nmax_pending_mb = 3\nmax_pending_uploads = 5\nworkers = 3\n"


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
    finally:
        srv.stop()
    # Both tips are whole (test_uploads_http.py decrypts one with the real export and offline tool).
    secret = newsroom_secret(keydir)
    opened = sorted(decrypt_bytes(p.read_bytes(), [secret])[1] for p in srv.data_dir.rglob("*.envelope"))
    assert opened == [b"committed before the rush", b"w" * 600_000]
