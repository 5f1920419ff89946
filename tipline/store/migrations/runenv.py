"""What both env.py files run: migrate the connection `tipline upgrade` hands over, in its transaction.

`tipline upgrade` (tipline/ops/upgrade.py) opens the database through
tipline.store.db, so SQLite keeps its durability pragmas, and passes that
connection in `config.attributes["connection"]` (Alembic's documented way of
sharing a connection). Alembic then joins the transaction already begun on
it: every revision and the new version row commit together, or not at all.
The `alembic` command (for writing a revision, docs/upgrades.md) gives a URL instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from tipline.store.schema import VERSION_TABLES, metadata_of


def run(which: str) -> None:
    config = context.config
    target = metadata_of(which)
    options = {"version_table": VERSION_TABLES[which], "target_metadata": target, "transactional_ddl": True}
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
