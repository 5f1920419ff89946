"""`tipline backup` of a serving tip line, restored into fresh installs: every acknowledged tip decrypts.

A real gunicorn source app takes tips from parallel clients over HTTP while the
real CLI backs up three times; each backup goes into a fresh data folder with
the real `tipline restore`, and the real export and offline tool read it back.
"""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from tests.conftest import export_and_decrypt, run_tipline, submission_folders
from tests.ops.load import AGENT, backups_under_load, check_metadata
from tests.store import sqlitefile
from tests.store.test_forensics import old_bytes, out_of_key_order
from tests.web.conversations import add_reply, first_tip, reply_texts
from tests.web.conversations import login as codename_login
from tests.web.newsroom import login, start_newsroom
from tests.web.server import Server, free_port, make_server
from tipline.store import schema

DOOMED = [f"a tip deleted while the backups run, {i}" for i in range(20)]
FIRST, REPLY = "the first tip of a conversation", "the newsroom's reply, sealed to the source"


@pytest.fixture(scope="module")
def served(tmp_path_factory, keydir):
    """Three backups of a tip line taken while tips arrived, with what each must hold; the newsroom's TOTP."""
    base = tmp_path_factory.mktemp("live")
    room = start_newsroom(base, keydir)
    try:
        room.enrol("ana")
        words = first_tip(room.source, FIRST)
        add_reply(room.source, keydir, words, REPLY)
        before = {s.id for s in room.convs.store.list()}
        for text in DOOMED:
            assert (
                room.source.post_form([("csrf_token", room.source.csrf_token()), ("message", text)]).status
                == 200
            )
        doomed = sorted({s.id for s in room.convs.store.list()} - before)

        def delete_doomed(stop: threading.Event) -> None:
            """A journalist deleting tips while the backups run: a row never comes without its envelopes."""
            for sid in doomed:
                if stop.wait(0.3):
                    return
                room.convs.store.delete([sid])

        made = backups_under_load(room.source, base, 3, meanwhile=delete_doomed)
    finally:
        room.stop()
    return made, room.totp["ana"], words


def fresh_install(base, keydir) -> Server:
    """A new data folder as an install leaves it: the journalists' key, nothing else."""
    return make_server(base, keydir / "journalist.pub")


def test_every_acknowledged_tip_comes_back(served, tmp_path, keydir):
    made, totp, words = served
    for i, (backup, acknowledged) in enumerate(made):
        target = fresh_install(tmp_path / f"restore-{i}", keydir)
        r = run_tipline("restore", str(backup), "--data-dir", str(target.data_dir))
        assert r.stdout.startswith(f"Restored {backup}"), r.stderr
        out = export_and_decrypt(target.data_dir, keydir, tmp_path / f"work-{i}")
        texts = {(d / "message.txt").read_text() for d in submission_folders(out).values()}
        missing = ({FIRST} | acknowledged) - texts
        # The export above opened every restored row's envelopes: none came without them.
        print(
            f"backup {i}: {len(acknowledged)} tips acknowledged before it began, {len(texts)} restored, "
            f"{len(texts & set(DOOMED))} of the {len(DOOMED)} being deleted still in it"
        )
        assert missing == set()
        j = Server(target.data_dir, target.tmp_dir, tmp_path / f"j-{i}.log", free_port())
        j.start("--app", "journalist")
        try:
            login(j, "ana", totp)
        finally:
            j.stop()
        target.start()  # the source's codename still opens the conversation and its reply
        try:
            assert reply_texts(codename_login(target, words)) == [REPLY]
        finally:
            target.stop()


def test_the_file_keeps_the_metadata_promises(served, tmp_path, keydir):
    made, _, _ = served
    for backup, _acknowledged in made:
        assert backup.stat().st_mode & 0o777 == 0o600
        data = check_metadata(backup, [b"127.0.0.1", AGENT.encode(), b"TiplineBackupProbe"])
        manifest = json.loads(data["manifest.json"])
        assert (manifest["format"], manifest["version"]) == ("tipline-backup", 1)
        assert manifest["created_hour"].endswith(":00Z")
        assert manifest["schema"] == {n: schema.head_revision(n) for n in schema.VERSION_TABLES}
        assert not any(n.endswith(".key") and "keys/" in n for n in data)
        assert not any(b"tipline-sec1-" in v for v in data.values())
        for name in ("db/submissions.sqlite3", "db/accounts.sqlite3"):
            db = sqlitefile.Database(data[name])
            assert out_of_key_order(db, tmp_path) == [], name
            assert old_bytes(db, tmp_path / "ref") == [], name
        path = tmp_path / "copy.sqlite3"
        path.write_bytes(data["db/submissions.sqlite3"])
        con = sqlite3.connect(path)
        try:
            hours = [r[0] for r in con.execute("select received_hour from submissions")]
            assert hours and all(h.endswith(":00Z") for h in hours)
        finally:
            con.close()
        accounts = tmp_path / "accounts.sqlite3"
        accounts.write_bytes(data["db/accounts.sqlite3"])
        con = sqlite3.connect(accounts)
        try:  # live sessions and login throttling are never carried
            assert con.execute("select count(*) from journalist_sessions").fetchone() == (0,)
            assert con.execute("select count(*) from login_throttle").fetchone() == (0,)
            assert con.execute("select count(*) from journalists").fetchone() == (1,)
        finally:
            con.close()
