"""Upgrades keep everything: installs filled by each version that changed a schema, upgraded by this one.

For each commit of SCHEMA_COMMITS, on SQLite and on PostgreSQL: that version's
own CLI adds a key and two journalists, its own source app takes tips with files
(tests/ops/historic.py). Then this version's `tipline upgrade`, and every tip
still exports and decrypts with the offline tool, every journalist still logs
in to this version's journalist app, the schema is exactly the models', and a
second upgrade has nothing to do. On SQLite the upgraded files still keep the
disk's promises: times to the hour, no journal or WAL holding pages, every
page laid out as the rows alone give (tests/store/test_forensics.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tests.conftest import export_and_decrypt, run_tipline, submission_folders
from tests.ops.historic import RECOGNISED, SCHEMA_COMMITS, Filled, OldInstall, make_old_install
from tests.postgres import new_database, pg_url  # noqa: F401 (a fixture)
from tests.store import sqlitefile
from tests.store.test_forensics import finer_than_the_hour, out_of_key_order
from tests.web.newsroom import login
from tests.web.server import Server, free_port
from tipline.config import load_settings
from tipline.ops.doctor_schema import check_schemas
from tipline.store.schema import ACCOUNTS, SUBMISSIONS, VERSION_TABLES, head_revision, metadata_of

pytestmark = pytest.mark.slow


def schema_drift(url: str, which: str) -> list:
    """What Alembic's autogenerate finds between the database and this version's models: nothing."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(url)
    try:
        with engine.connect() as con:
            ctx = MigrationContext.configure(con, opts={"version_table": VERSION_TABLES[which]})
            return compare_metadata(ctx, metadata_of(which))
    finally:
        engine.dispose()


def upgrade_and_check(inst: OldInstall, filled: Filled, keydir: Path, work: Path) -> None:
    d = str(inst.data_dir)
    settings = load_settings(inst.data_dir)
    pending = [str(f) for f in check_schemas(settings)]
    assert any("a migration is pending, run tipline upgrade --data-dir" in f for f in pending), pending

    lines = run_tipline("upgrade", "--data-dir", d).stdout.splitlines()
    sub_rev, acc_rev = RECOGNISED[inst.commit]
    accounts, submissions = lines
    if acc_rev is None:  # before b4d422f there was no accounts database
        assert accounts == f"The accounts database: made, at schema revision {head_revision(ACCOUNTS)}."
        assert "moved 2 journalist(s) into the accounts database, their TOTP secrets sealed" in submissions
    else:
        assert "made before schema migrations, recognised as commit" in accounts, accounts
        assert f"({acc_rev})" in accounts, accounts
    assert "made before schema migrations, recognised as commit" in submissions, submissions
    assert f"({sub_rev})" in submissions, submissions
    assert check_schemas(settings) == []
    for which, url in ((SUBMISSIONS, settings.db_url), (ACCOUNTS, settings.accounts_db_url)):
        assert schema_drift(url, which) == [], which

    again = run_tipline("upgrade", "--data-dir", d).stdout.splitlines()
    assert again == [
        f"The accounts database: already up to date (schema revision {head_revision(ACCOUNTS)}).",
        f"The submissions database: already up to date (schema revision {head_revision(SUBMISSIONS)}).",
    ]
    if settings.db_url.startswith("sqlite"):
        disk_promises(inst.data_dir, work)

    out = export_and_decrypt(inst.data_dir, keydir, work / "export")
    found = {}
    for folder in submission_folders(out).values():
        (name,) = [p.name for p in (folder / "files").iterdir()]
        found[(folder / "message.txt").read_text()] = (name, (folder / "files" / name).read_bytes())
    assert found == filled.tips

    j = Server(inst.data_dir, work, work / "journalist.log", free_port()).start("--app", "journalist")
    try:
        for name, totp in filled.journalists.items():
            login(j, name, totp)
    finally:
        j.stop()


def disk_promises(data: Path, work: Path) -> None:
    """The upgraded database files as test_forensics.py asks of every file the apps write."""
    files = [data / "tipline.sqlite3", data / "journalist" / "accounts.db"]
    paths = [data, data / "journalist"] + [Path(f"{f}{s}") for f in files for s in ("", "-journal")]
    assert finer_than_the_hour({str(p): os.lstat(p) for p in paths if os.path.lexists(p)}) == []
    for f in files:
        assert not Path(f"{f}-wal").exists() and not Path(f"{f}-shm").exists()
        assert not Path(f"{f}-journal").exists() or Path(f"{f}-journal").stat().st_size == 0
        (work / f.name).mkdir()
        assert out_of_key_order(sqlitefile.Database(f.read_bytes()), work / f.name) == [], f


@pytest.mark.parametrize("commit", SCHEMA_COMMITS)
def test_an_sqlite_install_of_each_schema_upgrades_and_keeps_everything(commit, trees, tmp_path, keydir):
    inst, filled = make_old_install(commit, trees, tmp_path, keydir / "journalist.pub")
    upgrade_and_check(inst, filled, keydir, tmp_path)


@pytest.mark.parametrize("commit", SCHEMA_COMMITS)
def test_a_postgres_install_of_each_schema_upgrades_and_keeps_everything(
    commit,
    trees,
    tmp_path,
    keydir,
    pg_url,  # noqa: F811
):
    submissions = new_database(pg_url, f"up_{commit}")
    accounts = new_database(pg_url, f"up_accounts_{commit}")
    both = f'database_url = "{submissions}"\naccounts_database_url = "{accounts}"\n'
    if commit == "4fd8b02":  # a setting that version did not know: given when upgrading
        inst, filled = make_old_install(
            commit, trees, tmp_path, keydir / "journalist.pub", f'database_url = "{submissions}"\n'
        )
        (inst.data_dir / "tipline.toml").write_text(both)
    else:
        inst, filled = make_old_install(commit, trees, tmp_path, keydir / "journalist.pub", both)
    assert not (inst.data_dir / "tipline.sqlite3").exists()  # really on PostgreSQL
    upgrade_and_check(inst, filled, keydir, tmp_path)
