"""Engine and session set-up, with SQLite made private and durable.

Every SQLite database made here (the tips, and the journalists' accounts)
keeps its disk as docs/threat-model.md promises: times to the hour, no
arrival order, and a deleted row gone from every file.

- A rollback journal emptied by each commit (journal_mode=TRUNCATE), not a
  write-ahead log. A WAL keeps a copy of every page each commit wrote, so its
  frames replay the arrival order and keep deleted rows until a checkpoint,
  which a reader in another process can hold off. Truncating the journal is
  the commit itself: it cannot be skipped or postponed.
- synchronous=FULL: a commit is on disk before the source is told "received";
  with TRUNCATE that includes syncing the emptied journal.
- secure_delete: deleted rows are zeroed, not left in free pages or freeblocks.
- temp_store=MEMORY: VACUUM's copy and statement journals never touch a disk.
- After every write, VACUUM: SQLite puts each new cell below the last on its
  page, so the layout of a page gives the order of its inserts away. VACUUM
  rewrites every page as inserting the rows in key order would, so the file
  is a function of what it holds, never of when. Cost: bench/disk.py.
- After every use, the database files' and folder's times go to the hour.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from . import schema
from .filetimes import to_the_hour
from .models import Base

log = logging.getLogger(__name__)

PRAGMAS = (
    "busy_timeout=10000",  # first: leaving WAL mode waits for other connections too
    "journal_mode=TRUNCATE",
    "synchronous=FULL",
    "secure_delete=ON",
    "temp_store=MEMORY",
    "foreign_keys=ON",
)
_CHANGES = "tipline_changes_seen"  # per connection: its total_changes when it was last cleaned
COMPANIONS = ("", "-journal", "-wal", "-shm")


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record) -> None:
    cur = dbapi_connection.cursor()
    for pragma in PRAGMAS:
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def _vacuum(dbapi_connection: sqlite3.Connection) -> None:
    """Rewrite the file in key order. A failure leaves the data whole; the next write tries again."""
    try:
        dbapi_connection.execute("VACUUM")
    except sqlite3.Error as e:
        log.warning("could not rewrite the database in key order after a write (%s)", type(e).__name__)


class _Cleaner:
    """Pool hook: when a connection comes back after a write, VACUUM; after any use, round times."""

    def __init__(self, database: Path | None) -> None:
        self.paths = (
            [] if database is None else [database.parent, *(Path(f"{database}{s}") for s in COMPANIONS)]
        )

    def __call__(self, dbapi_connection: sqlite3.Connection | None, record) -> None:
        if dbapi_connection is None:  # invalidated: nothing of it is left to clean
            return
        changes = dbapi_connection.total_changes
        if changes != record.info.get(_CHANGES, 0):
            _vacuum(dbapi_connection)
            record.info[_CHANGES] = dbapi_connection.total_changes
        to_the_hour(self.paths)


def open_read_only(url: str) -> Engine:
    """An engine that only reads, for `tipline notify`: its unit sees the submissions database
    read-only, and a reader must neither make tables nor rewrite the file after use."""
    engine = create_engine(url, pool_pre_ping=True)
    name = engine.url.database if engine.dialect.name == "sqlite" else None
    if name and name != ":memory:" and not Path(name).exists():
        engine.dispose()
        return make_engine(url)  # nothing served yet: an empty database, made as the apps make it
    if name and name != ":memory:":
        uri = f"file:{Path(name).resolve()}?mode=ro"
        engine.dispose()
        engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
    elif engine.dialect.name == "postgresql":
        engine = engine.execution_options(postgresql_readonly=True)
    st = schema.status(engine, schema.SUBMISSIONS)
    if st.state is not schema.State.CURRENT:  # a reader cannot make tables, nor read an older schema
        engine.dispose()
        raise schema.SchemaError(st)
    return engine


def open_engine(url: str, file_mode: int = 0o660) -> Engine:
    """An engine with the durability and privacy promises above, and no tables made.

    `file_mode` is the mode a new SQLite file is made with (less the umask;
    SQLite gives its journal the same): the submissions database is shared
    with the other app's user through their group, the accounts database is
    its owner's alone (0o600). tipline upgrade opens its databases this way.
    """
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        name = engine.url.database
        database = Path(name) if name and name != ":memory:" else None
        if database is not None:
            database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # SQLite would make it 0644 less the umask
                os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, file_mode))
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "checkin", _Cleaner(database))
    return engine


def make_engine(
    url: str, metadata: MetaData = Base.metadata, file_mode: int = 0o660, data_dir: object = None
) -> Engine:
    """An engine for one of the two databases, its tables made if it has none (tipline/store/schema.py).

    `metadata` says which: the submissions schema (the default) or the
    accounts schema (models.AccountsBase.metadata), so neither database
    ever gets the other's tables. A database of another schema revision is
    refused with schema.SchemaError, which says to run `tipline upgrade`
    (with `data_dir` in the command, when given) or that a newer Tipline wrote it.
    """
    engine = open_engine(url, file_mode)
    try:
        schema.ensure_current(engine, schema.which_of(metadata), data_dir)
    except schema.SchemaError:
        engine.dispose()
        raise
    vacuum_now(engine)
    return engine


def vacuum_now(engine: Engine) -> None:
    """A SQLite file written by an older version, an upgrade or a crash is made clean before any use."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        _vacuum(raw.driver_connection)
    finally:
        raw.close()


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
