"""Engine and session set-up, with SQLite made private and durable."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from .models import Base


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    # WAL: readers never block the writer. FULL: a commit is on disk before
    # the source is told "received". secure_delete: deleted rows are zeroed,
    # not left in free pages.
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        "secure_delete=ON",
        "foreign_keys=ON",
        "busy_timeout=10000",
    ):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def make_engine(url: str, metadata: MetaData = Base.metadata) -> Engine:
    """An engine for one of the two databases, its tables made if missing.

    `metadata` says which: the submissions schema (the default) or the
    accounts schema (models.AccountsBase.metadata), so neither database
    ever gets the other's tables.
    """
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        if engine.url.database and engine.url.database != ":memory:":
            Path(engine.url.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        metadata.create_all(engine)
    except DBAPIError:
        # Workers starting together may race to create the same tables; the loser finds them made.
        metadata.create_all(engine)
    return engine


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
