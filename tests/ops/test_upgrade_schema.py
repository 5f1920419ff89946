"""The migration scripts, the history the apps check against, and the models say the same thing.

tipline/store/schema.py does not import Alembic (the apps pay nothing for it), so
its HISTORY and version tables are kept equal to the scripts here; and a database
taken from nothing through every revision is exactly what the models make for a
new install, WITHOUT ROWID tables included.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tipline.store.db import make_engine
from tipline.store.migrate import _alembic_config, upgrade_engine
from tipline.store.models import AccountsBase, Base
from tipline.store.schema import ACCOUNTS, HISTORY, SUBMISSIONS, VERSION_TABLES, head_revision, metadata_of

METADATA = {SUBMISSIONS: Base.metadata, ACCOUNTS: AccountsBase.metadata}


@pytest.mark.parametrize("which", [SUBMISSIONS, ACCOUNTS])
def test_the_history_is_the_scripts_one_line_each(which):
    scripts = ScriptDirectory.from_config(_alembic_config(which, None))
    assert scripts.get_heads() == [head_revision(which)]  # one head: no branch
    assert [s.revision for s in reversed(list(scripts.walk_revisions()))] == [r for r, _ in HISTORY[which]]
    files = sorted(p.stem for p in Path(scripts.versions).glob("*.py"))
    assert files == sorted(r for r, _ in HISTORY[which])  # one file per revision, named by it


def schema_sql(path: Path) -> dict[str, str]:
    con = sqlite3.connect(path)
    try:
        rows = con.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    finally:
        con.close()
    return {
        name: " ".join(sql.replace("(", " ( ").replace(")", " ) ").replace(",", " , ").split())
        for name, sql in rows
    }


@pytest.mark.parametrize("which", [SUBMISSIONS, ACCOUNTS])
def test_every_revision_from_nothing_gives_what_a_new_install_gets(which, tmp_path):
    engine = upgrade_engine(f"sqlite:///{tmp_path / 'migrated.db'}", 0o600)
    with engine.connect() as con, con.begin():
        command.upgrade(_alembic_config(which, con), "head")
    with engine.connect() as con:
        ctx = MigrationContext.configure(con, opts={"version_table": VERSION_TABLES[which]})
        assert compare_metadata(ctx, metadata_of(which)) == []
    engine.dispose()
    make_engine(f"sqlite:///{tmp_path / 'new.db'}", METADATA[which], 0o600).dispose()
    migrated, new = schema_sql(tmp_path / "migrated.db"), schema_sql(tmp_path / "new.db")
    assert sorted(migrated) == sorted(new)
    rowid = {name for name, sql in new.items() if sql.endswith("WITHOUT ROWID")}
    assert rowid == {name for name, sql in migrated.items() if sql.endswith("WITHOUT ROWID")}
    assert rowid, "no WITHOUT ROWID table: tips' arrival order would be numbered"


def test_processes_starting_together_on_a_new_database_make_it_once(tmp_path):
    """gunicorn workers may all open a new database at once: one makes it, at head; none fails."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    code = "import sys; from tipline.store.db import make_engine; make_engine(sys.argv[1]).dispose()"
    cmd = [sys.executable, "-c", code, url]
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    con = sqlite3.connect(tmp_path / "new.sqlite3")
    try:
        rows = con.execute(f"SELECT version_num FROM {VERSION_TABLES[SUBMISSIONS]}").fetchall()
    finally:
        con.close()
    assert rows == [(head_revision(SUBMISSIONS),)]
