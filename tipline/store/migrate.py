"""Bring one database to the head revision with Alembic, in one transaction (run by tipline upgrade).

The engine comes from tipline.store.db, so SQLite keeps its pragmas (rollback
journal, synchronous=FULL, secure_delete) and its VACUUM and times to the
hour after the write. pysqlite would run DDL outside any transaction; here
SQLAlchemy's documented recipe gives the upgrade engine real transactions
(BEGIN IMMEDIATE, the write lock first), so a failed or interrupted upgrade
leaves the database as it was, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, event

from . import schema
from .db import open_engine, vacuum_now


@dataclass
class Outcome:
    which: str
    before: schema.Status
    after: str
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.before.state is not schema.State.CURRENT or bool(self.notes)


def upgrade_engine(url: str, file_mode: int) -> Engine:
    """An engine of tipline.store.db whose SQLite transactions cover DDL too."""
    engine = open_engine(url, file_mode)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _no_implicit_transactions(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None  # after the pragmas: they ran on connect first

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _alembic_config(which: str, con: Connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", f"tipline.store.migrations:{which}")
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = con
    return cfg


def migrate(
    engine: Engine,
    which: str,
    prepare: Callable[[Connection, schema.Status], list[str]] | None = None,
) -> Outcome:
    """Bring the database to the head revision; SchemaError for a newer or unknown one (nothing changed).

    `prepare`, given the connection in the transaction and where the database
    stood, does what the revisions cannot do alone (moving the old accounts
    out of the submissions database) and returns what it did, in words.
    """
    from alembic import command

    with engine.connect() as con, con.begin():
        st = schema.status(con, which)
        if st.state in (schema.State.NEWER, schema.State.UNKNOWN):
            raise schema.SchemaError(st)
        outcome = Outcome(which, st, schema.head_revision(which))
        if st.state is schema.State.EMPTY:
            schema.create_at_head(con, which)
        else:
            cfg = _alembic_config(which, con)
            if st.state is schema.State.UNSTAMPED:
                command.stamp(cfg, st.revision)
            if prepare is not None:
                outcome.notes += prepare(con, st)
            if st.state is not schema.State.CURRENT:
                command.upgrade(cfg, "head")
        after = schema.current_revision(con, which)
        if after != outcome.after:
            raise RuntimeError(f"the {which} database ended at {after}, not {outcome.after}")
    vacuum_now(engine)
    return outcome
