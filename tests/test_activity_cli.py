"""`tipline log` and `tipline log purge`, run as an admin runs them: output, retention, plain errors."""

from __future__ import annotations

import sqlite3

from tests.conftest import run_tipline
from tests.web.logins import enrol
from tipline.config import load_settings
from tipline.ops.activity_cli import open_log
from tipline.store.activity import ADMIN


def _age(data, hour: str, name: str) -> None:
    """Move one journalist's entries back to `hour`, as if they had been recorded then."""
    con = sqlite3.connect(data / "journalist" / "accounts.db")
    with con:
        con.execute("update activity_log set hour = ? where detail = ?", (hour, f"name={name}"))
    con.close()


def test_log_prints_filters_and_purge_records_itself(tmp_path):
    data = tmp_path / "data"
    for name in ("old", "recent", "today"):
        enrol(data, name, tmp_path)
    _age(data, "2020-01-01T09:00Z", "old")
    _age(data, "2026-01-02T10:00Z", "recent")
    lines = run_tipline("log", "--data-dir", str(data)).stdout.splitlines()
    assert lines[1:] == [
        f"2026-01-02T10:00Z\t{ADMIN}\taccount_added\tx1\tname=recent",
        f"2020-01-01T09:00Z\t{ADMIN}\taccount_added\tx1\tname=old",
    ]
    assert lines[0].endswith(f"\t{ADMIN}\taccount_added\tx1\tname=today")
    since = run_tipline("log", "--data-dir", str(data), "--since", "2026-01-02").stdout
    assert "name=old" not in since and "name=recent" in since and "name=today" in since
    assert run_tipline("log", "--data-dir", str(data), "--journalist", "ana").stdout == (
        "No activity log entries match.\n"
    )

    # The default retention, 365 days: only the 2020 entry is that old.
    r = run_tipline("log", "purge", "--data-dir", str(data))
    assert r.stdout == "Purged 1 activity log entry older than 365 days. This purge is itself logged.\n"
    purged = run_tipline("log", "--data-dir", str(data), "--action", "log_purged").stdout.splitlines()
    rows = [p.split("\t")[1:] for p in purged]
    assert rows == [[ADMIN, "log_purged", "x1", "entries=1 older_than_days=365"]]
    assert "name=old" not in run_tipline("log", "--data-dir", str(data)).stdout
    # --older-than, given after `purge` or before it (--data-dir too).
    r = run_tipline("log", "--data-dir", str(data), "purge", "--older-than", "30")
    assert r.stdout.startswith("Purged 1 activity log entry older than 30 days.")
    entries = open_log(load_settings(data)).entries()
    assert [(e.action, e.detail) for e in entries] == [
        ("account_added", "name=today"),
        ("log_purged", "entries=1 older_than_days=30"),
        ("log_purged", "entries=1 older_than_days=365"),
    ]


def test_bad_input_is_one_plain_line_and_changes_nothing(tmp_path):
    data = tmp_path / "data"
    enrol(data, "ana", tmp_path)
    before = open_log(load_settings(data)).entries()
    for args, says in (
        (["log", "purge", "--older-than", "0"], "give a whole number of days, 1 or more"),
        (["log", "purge", "--older-than", "soon"], "give a whole number of days, 1 or more"),
        (["log", "--since", "2026-13-40"], "give a day in UTC as YYYY-MM-DD"),
        (["log", "--action", "hack"], "'hack' is not an action; the actions are: login,"),
    ):
        r = run_tipline(*args, "--data-dir", str(data), check=False)
        assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    (data / "tipline.toml").write_text("activity_retention_days = 0\n")
    r = run_tipline("log", "purge", "--data-dir", str(data), check=False)
    assert r.returncode == 2 and r.stderr == (
        "tipline: activity_retention_days must be at least 1 (a number of days, e.g. 365).\n"
    )
    (data / "tipline.toml").unlink()
    assert open_log(load_settings(data)).entries() == before

    # An accounts database that cannot be opened (not a database at all): what to do, no traceback.
    (tmp_path / "garbage.db").write_bytes(b"not a database, " * 512)
    (data / "tipline.toml").write_text(f'accounts_database_url = "sqlite:///{tmp_path}/garbage.db"\n')
    r = run_tipline("log", "--data-dir", str(data), check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("tipline: Cannot open the activity log in the accounts database (")


def test_help_and_the_docs_name_the_same_options():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "activity-log.md").read_text("utf-8")
    for cmd, flags in (
        (["log"], ("--journalist", "--since", "--action")),
        (["log", "purge"], ("--older-than",)),
    ):
        r = run_tipline(*cmd, "--help")
        assert r.stdout.startswith(f"usage: tipline {' '.join(cmd)}")
        for flag in flags:
            assert flag in r.stdout and flag in doc, flag
    assert "activity_retention_days" in doc and "tipline log purge --older-than DAYS" in doc


def test_retention_purge_forgets_the_deleted_conversations_short_ids(tmp_path):
    """A conversation the retention purge deletes leaves no trace of its id in the log: the entries
    that named it say "deleted", alike entries merge with their counts added, others keep theirs."""
    from sqlalchemy import text

    from tests.store.conversation_helpers import Source, first_tip, open_store
    from tipline.format.keys import SecretKey

    data = tmp_path / "data"
    enrol(data, "ana", tmp_path)
    settings = load_settings(data)
    key = SecretKey.generate().public_key
    convs = open_store(settings.db_url, settings.store_dir)
    old, other_old, kept = (first_tip(convs, key, Source.new()) for _ in range(3))
    log = open_log(settings)
    log.record("ana", "download", f"submissions=2 conversations={old[:8]},{kept[:8]}")
    log.record("ana", "reply", f"conversation={old[:8]} sealed_by=server")
    log.record("ana", "reply", f"conversation={other_old[:8]} sealed_by=server")
    log.record("ana", "reply", f"conversation={kept[:8]} sealed_by=server")
    with convs.store.sessions.begin() as s:
        s.execute(
            text("update submissions set received_hour = '2020-01-01T00:00Z' where conversation_id != :k"),
            {"k": kept},
        )
    r = run_tipline("purge", "--data-dir", str(data), "--older-than", "30d")
    assert r.stdout == "Purged 2 submission(s).\n" and r.stderr == ""
    got = {(e.action, e.detail): e.count for e in open_log(settings).entries()}
    assert got[("download", f"submissions=2 conversations={kept[:8]},deleted")] == 1
    assert got[("reply", "conversation=deleted sealed_by=server")] == 2  # two entries became one
    assert got[("reply", f"conversation={kept[:8]} sealed_by=server")] == 1
    assert got[("delete", "submissions=2 conversations_deleted=2 by=retention")] == 1
    raw = b"".join(p.read_bytes() for p in (data / "journalist").glob("accounts.db*"))
    assert old[:8].encode() not in raw and other_old[:8].encode() not in raw and kept[:8].encode() in raw
