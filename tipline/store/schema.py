"""Which schema revision a database has, and the check every engine passes before it is used.

Each database records its revision in a version table of its own (Alembic's,
named in VERSION_TABLES): the submissions database's history is in
tipline/store/migrations/submissions/, the accounts database's in .../accounts/.
This module does not import Alembic, so the apps and the commands pay nothing
for it: it only reads the version row and compares it with HISTORY, which
tests/ops/test_upgrade_schema.py keeps equal to the migration scripts.

- No table at all: a new database. Its tables are made from the models and
  stamped at the head revision in one transaction, so a demo, a test or a
  first start needs no upgrade step.
- The head revision: ready.
- An older revision, or tables but no version table (an install from before
  migrations): SchemaError, "run tipline upgrade".
- A revision this code does not know: SchemaError, written by a newer Tipline.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    text,
)
from sqlalchemy.exc import DBAPIError

SUBMISSIONS, ACCOUNTS = "submissions", "accounts"
VERSION_TABLES = {SUBMISSIONS: "alembic_version_submissions", ACCOUNTS: "alembic_version_accounts"}
# Every revision of each database, oldest first, with the commit whose schema it is.
HISTORY: dict[str, tuple[tuple[str, str], ...]] = {
    SUBMISSIONS: (
        ("sub01_initial", "4fd8b02"),
        ("sub02_accounts_out", "b4d422f"),
        ("sub03_conversations", "faab7c7"),
        ("sub04_status", "d6ad903"),
    ),
    ACCOUNTS: (
        ("acc01_initial", "b4d422f"),
        ("acc02_activity", "295c100"),
        ("acc03_notify_addresses", "d438de4"),
    ),
}
NEWER = "this database was written by a newer Tipline; install that version or restore a backup"


class SchemaError(Exception):
    """The database's schema is not the one this code runs on; the message says what to do.

    `data_dir`, when the caller knows it, goes into the command to run."""

    code = 2

    def __init__(self, st: Status, data_dir: object = None) -> None:
        super().__init__(st)
        self.status = st
        self.data_dir = data_dir

    def __str__(self) -> str:
        return problem(self.status, self.data_dir) or f"The {self.status.which} database is ready."


class State(enum.Enum):
    EMPTY = "empty"  # no table at all
    CURRENT = "current"  # the head revision
    PENDING = "pending"  # an older revision: tipline upgrade
    UNSTAMPED = "unstamped"  # tables of a known historic schema, but no version table
    NEWER = "newer"  # a revision this code does not know
    UNKNOWN = "unknown"  # tables, but not a schema Tipline ever made


@dataclass(frozen=True)
class Status:
    which: str
    state: State
    revision: str | None  # the version table's, or the historic schema recognised (UNSTAMPED)
    leftover_accounts: bool = False  # a submissions database still holding the old journalists table


def head_revision(which: str) -> str:
    """The revision this code's models are: the last of the database's history."""
    return HISTORY[which][-1][0]


def known_revisions(which: str) -> list[str]:
    return [rev for rev, _commit in HISTORY[which]]


def metadata_of(which: str) -> MetaData:
    """The models of one database, all of them: the activity log's and the notification addresses'
    tables are defined in their own modules (the latter in tipline/notify/, which owns them)."""
    import tipline.notify.addresses  # noqa: F401  (registers notify_addresses on AccountsBase)

    from . import activity  # noqa: F401  (registers activity_log on AccountsBase)
    from .models import AccountsBase, Base

    return Base.metadata if which == SUBMISSIONS else AccountsBase.metadata


def which_of(metadata: MetaData) -> str:
    return SUBMISSIONS if metadata is metadata_of(SUBMISSIONS) else ACCOUNTS


def version_table(which: str) -> Table:
    """Alembic's own version table, as it makes it (version_num VARCHAR(32), primary key NAME_pkc)."""
    name = VERSION_TABLES[which]
    return Table(
        name,
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name=f"{name}_pkc"),
    )


def current_revision(bind: Engine | Connection, which: str) -> str | None:
    """The revision in the database's version table; None if it has none (new, or from before migrations)."""
    if isinstance(bind, Engine):
        with bind.connect() as con:
            return current_revision(con, which)
    if not inspect(bind).has_table(VERSION_TABLES[which]):
        return None
    rows = bind.execute(text(f"SELECT version_num FROM {VERSION_TABLES[which]}")).scalars().all()  # noqa: S608
    return rows[0] if len(rows) == 1 else None


def recognise(tables: set[str], columns: dict[str, set[str]], which: str) -> str | None:
    """The historic revision whose schema these tables are (a database from before migrations), or None."""
    if which == ACCOUNTS:
        if not {"journalists", "journalist_sessions", "login_throttle"} <= tables:
            return None
        return "acc02_activity" if "activity_log" in tables else "acc01_initial"
    if not {"submissions", "downloads"} <= tables:
        return None
    has_conversations = "conversations" in tables and "conversation_id" in columns.get("submissions", set())
    if "conversation_status" in tables and has_conversations:
        return "sub04_status"
    if has_conversations:
        return "sub03_conversations"
    if "conversations" in tables:
        return None  # made, but never given its column: not a schema any version left behind
    return "sub01_initial" if "journalists" in tables else "sub02_accounts_out"


def status(bind: Engine | Connection, which: str) -> Status:
    """Where the database stands against this code's head revision."""
    if isinstance(bind, Engine):
        with bind.connect() as con:
            return status(con, which)
    tables = set(inspect(bind).get_table_names())
    version = VERSION_TABLES[which]
    leftover = which == SUBMISSIONS and "journalists" in tables
    if version in tables:
        rev = current_revision(bind, which)
        if rev == head_revision(which):
            return Status(which, State.CURRENT, rev, leftover)
        if rev in known_revisions(which):
            return Status(which, State.PENDING, rev, leftover)
        return Status(which, State.NEWER, rev, leftover)
    if not tables:
        return Status(which, State.EMPTY, None)
    columns = (
        {"submissions": {c["name"] for c in inspect(bind).get_columns("submissions")}}
        if ("submissions" in tables)
        else {}
    )
    rev = recognise(tables, columns, which)
    return Status(which, State.UNKNOWN if rev is None else State.UNSTAMPED, rev, leftover)


def problem(st: Status, data_dir: object = None) -> str | None:
    """What is wrong with a database in this state, in one line that says what to do; None if nothing."""
    where = f"The {st.which} database"
    run = f"run tipline upgrade --data-dir {data_dir or 'DIR'} (after a backup: docs/upgrades.md)"
    if st.state is State.PENDING:
        head = head_revision(st.which)
        return (
            f"{where} is at schema revision {st.revision}, older than this code's ({head}): "
            f"a migration is pending, {run}"
        )
    if st.state is State.UNSTAMPED:
        return f"{where} was made by a Tipline from before schema migrations: a migration is pending, {run}"
    if st.state is State.NEWER:
        return f"{where} has schema revision {st.revision}: {NEWER}."
    if st.state is State.EMPTY:
        return f"{where} has no tables yet: start the apps once, or {run}"
    if st.state is State.UNKNOWN:
        return (
            f"{where} has tables, but not of any schema Tipline made: "
            "check database_url, or restore a backup."
        )
    return None


def ensure_current(engine: Engine, which: str, data_dir: object = None) -> None:
    """Make a new database's tables at the head revision, or refuse one of another revision (SchemaError)."""
    for attempt in (1, 2):
        try:
            st = status(engine, which)
            if st.state is State.EMPTY:
                _create_at_head(engine, which)
                return
            break
        except DBAPIError:
            # Workers starting together race to make the tables: the loser finds them made.
            if attempt == 2:
                raise
    if st.state is not State.CURRENT:
        raise SchemaError(st, data_dir)


def create_at_head(con: Connection, which: str) -> None:
    """In the caller's transaction: the models' tables and the version row of the head revision."""
    metadata_of(which).create_all(con)
    table = version_table(which)
    table.create(con)
    con.execute(table.insert().values(version_num=head_revision(which)))


def _create_at_head(engine: Engine, which: str) -> None:
    with engine.connect() as con:
        if engine.dialect.name == "sqlite":
            # pysqlite would run the CREATEs outside any transaction: begin one explicitly, and take
            # the write lock first, so a second process waits and then finds everything made.
            con.exec_driver_sql("BEGIN IMMEDIATE")
        if status(con, which).state is State.EMPTY:
            create_at_head(con, which)
        con.commit()
