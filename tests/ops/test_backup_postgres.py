"""`tipline backup` of a tip line on PostgreSQL while it serves, restored into fresh databases.

The private PostgreSQL server of tests/postgres.py; pg_dump and psql
of its version, as `tipline backup` finds them.
"""

from __future__ import annotations

import pytest

from tests.conftest import export_and_decrypt, run_tipline, submission_folders
from tests.ops.load import AGENT, backups_under_load, check_metadata
from tests.postgres import new_database, pg_url  # noqa: F401 (a fixture)
from tests.web.newsroom import login, start_newsroom
from tests.web.server import Server, free_port, make_server
from tipline.store.db import make_engine
from tipline.store.models import AccountsBase


def settings_for(pg_url: str, name: str) -> str:  # noqa: F811
    subs, accounts = new_database(pg_url, name), new_database(pg_url, f"{name}_accounts")
    return f'database_url = "{subs}"\naccounts_database_url = "{accounts}"\n'


@pytest.fixture(scope="module")
def served(pg_url, tmp_path_factory, keydir):  # noqa: F811
    base = tmp_path_factory.mktemp("live")
    room = start_newsroom(base, keydir, settings_for(pg_url, "backup_live"))
    try:
        room.enrol("ana")
        made = backups_under_load(room.source, base, 2)
    finally:
        room.stop()
    return made, room.totp["ana"]


def test_every_acknowledged_tip_comes_back_on_postgres(served, pg_url, tmp_path, keydir):  # noqa: F811
    made, totp = served
    for i, (backup, acknowledged) in enumerate(made):
        data = check_metadata(backup, [b"127.0.0.1", AGENT.encode()])
        copy = data["db/submissions.sql"].decode().split("\n")
        start = next(n for n, line in enumerate(copy) if line.startswith("COPY public.submissions "))
        rows = copy[start + 1 : copy.index("\\.", start)]
        assert len(rows) >= len(acknowledged) and rows == sorted(rows)  # never the heap's arrival order
        target = make_server(tmp_path / f"restore-{i}", keydir / "journalist.pub")
        toml = settings_for(pg_url, f"backup_restore_{i}")
        target.data_dir.joinpath("tipline.toml").write_text(toml)
        if i == 0:  # the tables made, empty, as the journalist app's first start makes them
            make_engine(toml.split('"')[1]).dispose()
            make_engine(toml.split('"')[3], AccountsBase.metadata).dispose()
        r = run_tipline("restore", str(backup), "--data-dir", str(target.data_dir))
        assert r.stdout.startswith(f"Restored {backup}") and "GRANT" in r.stdout, r.stderr
        out = export_and_decrypt(target.data_dir, keydir, tmp_path / f"work-{i}")
        texts = {(d / "message.txt").read_text() for d in submission_folders(out).values()}
        print(f"backup {i}: {len(acknowledged)} tips acknowledged before it began, {len(texts)} restored")
        assert acknowledged - texts == set()
        j = Server(target.data_dir, target.tmp_dir, tmp_path / f"j-{i}.log", free_port())
        j.start("--app", "journalist")
        try:
            login(j, "ana", totp)
        finally:
            j.stop()
        again = run_tipline("restore", str(backup), "--data-dir", str(target.data_dir), check=False)
        assert again.returncode == 1 and "already holds data" in again.stderr
