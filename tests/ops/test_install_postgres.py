"""docs/install.md's PostgreSQL grants, run as written on a private server: the source app's role can do
all the source app does (tips, conversations, follow-ups, deleting a reply, its start-up recovery), and
nothing of the journalist side's (deleting, downloads, the accounts database).

The roles connect by name over the server's socket (trust authentication here, peer on a server), the
tables are made by `tipline upgrade` run as their owner, as the doc says.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from tests.conftest import run_tipline
from tests.postgres import pg_url  # noqa: F401 - the fixture
from tests.store.conversation_helpers import Source, add_reply, first_tip, open_store, reply_envelope
from tipline.format.keys import SecretKey
from tipline.store.status import StatusStore

DOC = Path(__file__).resolve().parents[2] / "docs" / "install.md"
JOURNALIST = SecretKey.generate()


def doc_sql() -> list[str]:
    """The SQL of each `psql <<'SQL'` in the doc's PostgreSQL block, in order."""
    doc = DOC.read_text()
    section = doc[doc.index("**PostgreSQL** instead of SQLite") :]
    block = section[section.index("```sh\n") : section.index("\n```\n")]
    return re.findall(r"<<'SQL'\n(.*?)\nSQL\n", block, flags=re.S)


def url(base: str, user: str, database: str) -> str:
    return base.replace("tipline@/postgres?", f"{user}@/{database}?")


def run_sql(address: str, sql: str) -> None:
    engine = create_engine(
        address, isolation_level="AUTOCOMMIT"
    )  # CREATE DATABASE cannot run in a transaction
    with engine.connect() as con:
        for statement in filter(str.strip, sql.split(";")):
            con.execute(text(statement))
    engine.dispose()


@pytest.mark.slow
def test_the_source_role_can_do_what_the_source_app_does_and_no_more(pg_url, tmp_path):  # noqa: F811
    roles, grants = doc_sql()
    run_sql(pg_url, roles)
    data = tmp_path / "data"
    data.mkdir()
    owner = url(pg_url, "tipline-journalist", "tipline_submissions")
    (data / "tipline.toml").write_text(
        f'database_url = "{owner}"\n'
        f'accounts_database_url = "{url(pg_url, "tipline-journalist", "tipline_accounts")}"\n'
    )
    r = run_tipline("upgrade", "--data-dir", str(data), check=False)
    assert r.returncode == 0, r.stderr
    run_sql(url(pg_url, "tipline", "tipline_submissions"), grants)

    source_url = url(pg_url, "tipline-source", "tipline_submissions")
    src = open_store(source_url, tmp_path / "store")  # checks the schema revision, as the app does at start
    newsroom = open_store(owner, tmp_path / "store")
    source = Source.new()
    cid = first_tip(src, JOURNALIST.public_key, source)
    assert src.find(source.derived.verifier_hash).id == cid
    status = StatusStore(newsroom.store.sessions)
    status.set_status(cid, "read", "ana")
    status.mark_seen(cid, "ana")
    rid = add_reply(newsroom, cid, reply_envelope("Thanks.", source.public_key, JOURNALIST.public_key))
    follow = src.begin_follow_up(cid, "server", [JOURNALIST.public_key], 1 << 20, 10)
    follow.add_message("more")
    follow.commit()  # the status goes back to new, and ana has not seen it: UPDATEs by the source role
    assert status.get(cid).status == "new" and status.get(cid).news_for("ana")
    assert [e.kind for e in src.thread(cid, include_deleted=False)].count("submission") == 2
    assert src.reply_envelope(rid)
    assert src.delete_reply(cid, rid)
    assert src.store.recover() == 0

    engine = create_engine(source_url)
    for forbidden in (
        "DELETE FROM submissions",
        "DELETE FROM conversations",
        "SELECT * FROM downloads",
        "UPDATE submissions SET total_size = 0",
        "CREATE TABLE mine (x int)",
    ):
        with engine.connect() as con, pytest.raises(ProgrammingError, match="permission denied"):
            con.execute(text(forbidden))
    engine.dispose()
    with pytest.raises(Exception, match="permission denied for database"):
        create_engine(url(pg_url, "tipline-source", "tipline_accounts")).connect()
