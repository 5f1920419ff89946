"""`tipline upgrade`: bring both databases to this version's schema, keeping everything (docs/upgrades.md).

The accounts database first (made if missing: an install from before commit
b4d422f has none), then the submissions database, each in one transaction;
between them the journalists of such an old install move into the accounts
database (tipline/store/legacy_accounts.py). Nothing is changed unless both
databases are of a revision this code knows: a newer one is refused, since
Tipline never downgrades. One line per database says what was done; a second
run says "already up to date".
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from tipline.config import Settings


class UpgradeError(Exception):
    """The upgrade cannot be done; nothing was changed in the database named."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def add_parser(sub: argparse._SubParsersAction, with_data_dir: Callable, func: Callable) -> None:
    p = with_data_dir(
        sub.add_parser(
            "upgrade",
            help="bring both databases to this version's schema (stop the apps and back up first)",
            description="Apply the pending schema migrations to the submissions and the accounts "
            "database, each in one transaction, keeping everything in them; refuse a database "
            "written by a newer Tipline. One line per database says what was done (docs/upgrades.md).",
        )
    )
    p.set_defaults(func=func)


def run(settings: Settings) -> int:
    for line in upgrade(settings):
        print(line)
    return 0


def upgrade(settings: Settings) -> list[str]:
    """Upgrade both databases; the line to print for each. Raises UpgradeError."""
    from sqlalchemy.exc import DBAPIError

    from tipline.store import legacy_accounts, schema
    from tipline.store.account_key import AccountKey
    from tipline.store.migrate import migrate, upgrade_engine

    done: dict[str, str] = {}
    engines = {}
    urls = {schema.ACCOUNTS: settings.accounts_db_url, schema.SUBMISSIONS: settings.db_url}
    try:
        # A SQLite file that is not there yet is left to the app that makes it, as its own user;
        # nothing changes unless both databases are of revisions this version knows.
        found = None
        if not _missing(settings.db_url):
            engines[schema.SUBMISSIONS] = upgrade_engine(settings.db_url, 0o660)
            found = _refuse_unknown(schema.status(engines[schema.SUBMISSIONS], schema.SUBMISSIONS), settings)
        # An install from before the accounts database gets one, for its journalists.
        if not _missing(settings.accounts_db_url) or (found and found.leftover_accounts):
            engines[schema.ACCOUNTS] = upgrade_engine(settings.accounts_db_url, 0o600)
            _refuse_unknown(schema.status(engines[schema.ACCOUNTS], schema.ACCOUNTS), settings)

        def move_old_accounts(con, st: schema.Status) -> list[str]:
            if not st.leftover_accounts:
                return []
            key = AccountKey.from_file(settings.totp_key_path)
            return legacy_accounts.move(con, engines[schema.ACCOUNTS], key)

        for which, prepare in ((schema.ACCOUNTS, None), (schema.SUBMISSIONS, move_old_accounts)):
            if which not in engines:
                done[which] = (
                    f"The {which} database: none yet at {_missing(urls[which])}; the app makes it, at "
                    f"schema revision {schema.head_revision(which)}, when it first starts."
                )
                continue
            try:
                done[which] = describe(migrate(engines[which], which, prepare))
            except DBAPIError as e:
                raise UpgradeError(
                    f"Could not upgrade the {which} database ({type(e.orig).__name__}: {e.orig}); "
                    "it was left as it was. "
                    + "".join(f"{line} " for line in done.values())
                    + "Fix the cause and run tipline upgrade again."
                ) from None
    except schema.SchemaError as e:
        e.data_dir = settings.data_dir
        raise UpgradeError(str(e), 2) from None
    except DBAPIError as e:
        raise UpgradeError(
            f"Cannot open the databases ({type(e.orig).__name__}: {e.orig}); nothing was changed. "
            "Run tipline upgrade as the databases' owner (as root for SQLite)."
        ) from None
    except OSError as e:
        raise UpgradeError(
            f"Cannot upgrade in {e.filename or settings.data_dir} ({e.strerror}); nothing more was changed."
        ) from None
    finally:
        for engine in engines.values():
            engine.dispose()
    return list(done.values())


def _refuse_unknown(st, settings: Settings):
    """ST, unless it is a revision this version does not know (SchemaError)."""
    from tipline.store.schema import SchemaError, State

    if st.state in (State.NEWER, State.UNKNOWN):
        raise SchemaError(st, settings.data_dir)
    return st


def _missing(url: str):
    """The path of a SQLite database file that does not exist yet; None otherwise."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if not u.drivername.startswith("sqlite") or not u.database or u.database == ":memory:":
        return None
    path = Path(u.database)
    return None if path.exists() else path


def describe(outcome) -> str:
    """One line: what was done to one database."""
    from tipline.store.schema import HISTORY, State

    name = f"The {outcome.which} database"
    before = outcome.before
    if before.state is State.EMPTY:
        return f"{name}: made, at schema revision {outcome.after}."
    notes = "".join(f"; {n}" for n in outcome.notes)
    if before.state is State.CURRENT:
        if notes:
            return f"{name}: at schema revision {outcome.after}{notes}."
        return f"{name}: already up to date (schema revision {outcome.after})."
    if before.state is State.UNSTAMPED:
        commit = dict(HISTORY[outcome.which])[before.revision]
        found = f"made before schema migrations, recognised as commit {commit}'s schema ({before.revision})"
        if before.revision == outcome.after:
            return f"{name}: {found}, this version's: stamped{notes}."
        return f"{name}: {found}: upgraded to {outcome.after}{notes}."
    return f"{name}: upgraded from {before.revision} to {outcome.after}{notes}."
