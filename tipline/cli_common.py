"""What every `tipline` command shares: its one-line errors, its settings, the stores it opens.

Split from tipline/cli.py so that each group of commands can live in a module of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from tipline.config import ConfigError, Settings, load_settings


class CliError(Exception):
    """A problem to print on one line, with the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def settings_for(args: argparse.Namespace, **flags) -> Settings:
    try:
        return load_settings(args.data_dir, config_file=getattr(args, "config", None), **flags)
    except ConfigError as e:
        raise CliError(str(e), 2) from None


def require_upgraded(settings: Settings, *which: str) -> None:
    """Refuse (SchemaError, "run tipline upgrade") before anything is made or changed, if either named
    database exists at another schema revision than this code's: read only, no file made.

    A command must check both databases when it writes to one and the other would be left behind:
    on an install from before commit b4d422f the journalists are still in the submissions database,
    and opening the accounts database would make an empty one beside them. A database this user
    cannot read is left to the command's own opening, which says why in one line.
    """
    from sqlalchemy.exc import DBAPIError

    from tipline.ops.doctor import read_only_engine, sqlite_path
    from tipline.store.schema import ACCOUNTS, SUBMISSIONS, SchemaError, State, status

    urls = {SUBMISSIONS: settings.db_url, ACCOUNTS: settings.accounts_db_url}
    for name in which:
        db = sqlite_path(urls[name])
        try:
            if db is not None and not db.exists():
                continue  # not made yet: made at the head revision, as the apps make it
        except OSError:
            continue  # a folder this user may not enter (EACCES): as a database it cannot read
        engine = read_only_engine(urls[name])
        try:
            st = status(engine, name)
        except DBAPIError:
            continue
        finally:
            engine.dispose()
        if st.state not in (State.EMPTY, State.CURRENT):
            raise SchemaError(st, settings.data_dir)


def require_app_upgraded(settings: Settings, app: str) -> None:
    """require_upgraded for the databases APP opens: the source app never opens the accounts one
    (its unit cannot see it), the journalist app both."""
    from tipline.store.schema import ACCOUNTS, SUBMISSIONS

    require_upgraded(settings, SUBMISSIONS, *([ACCOUNTS] if app == "journalist" else []))


def open_store(settings: Settings):
    from tipline.store.db import make_engine, make_sessions
    from tipline.store.schema import SUBMISSIONS
    from tipline.store.submissions import SubmissionStore

    # Read only first: opening it to write would already set its journal mode on an old file.
    require_upgraded(settings, SUBMISSIONS)
    engine = make_engine(settings.db_url, data_dir=settings.data_dir)  # SchemaError: main() says it
    return SubmissionStore(settings.store_dir, make_sessions(engine))


@contextlib.contextmanager
def data_folder_errors(cannot: str, advice: str) -> Iterator[None]:
    """A secret file, file system or database problem while setting up, as one line: what, why, what to do."""
    from sqlalchemy.exc import OperationalError

    from tipline.store.secretfile import SecretFileError

    try:
        yield
    except SecretFileError as e:
        raise CliError(str(e)) from None
    except (OSError, OperationalError) as e:
        why = e.strerror if isinstance(e, OSError) else str(e.orig)
        raise CliError(f"{cannot} ({why}). {advice}") from None


def open_accounts(settings: Settings):
    """The accounts database (accounts_database_url) and the TOTP key, both under DATA_DIR/journalist/;
    refused, with nothing made, unless both databases are at this code's revision."""
    from tipline.store.accounts import open_accounts
    from tipline.store.schema import ACCOUNTS, SUBMISSIONS

    # The submissions database first: on an install from before the accounts database, its
    # journalists are there, and a new, empty accounts database must not be made beside them.
    require_upgraded(settings, SUBMISSIONS, ACCOUNTS)
    return open_accounts(settings.accounts_db_url, settings.totp_key_path, data_dir=settings.data_dir)


def give_to_folder_owner(folder: Path) -> None:
    """Run by root: hand what it made in DATA_DIR/journalist/ to that folder's owner.

    Otherwise the first `tipline journalist add` would leave accounts.db and
    totp.key owned by root, and the journalist app's user could not open them.
    """
    if os.geteuid() != 0 or not folder.is_dir():
        return
    owner = folder.stat()
    if owner.st_uid == 0:
        return
    for p in folder.iterdir():
        st = p.lstat()
        if st.st_uid == 0 and not p.is_symlink():
            os.chown(p, owner.st_uid, owner.st_gid)


def show_totp(uri: str) -> None:
    import io

    import segno

    qr = io.StringIO()
    segno.make(uri, error="m").terminal(out=qr, compact=True)
    print("Scan this with the journalist's authenticator app (or type the secret from the line below):")
    print(qr.getvalue())
    print(uri)


def record(settings: Settings, action: str, detail: str, forget: Iterable[str] = ()) -> None:
    """Put what a command did in the activity log (tipline/ops/activity_cli.py), owned as the app needs.

    The action is done by then: a log that cannot be written is a warning on stderr, not a failure.
    """
    from tipline.ops.activity_cli import record_admin

    try:
        warning = record_admin(settings, action, detail, forget)
    finally:
        give_to_folder_owner(settings.journalist_private_dir)
    if warning:
        print(f"tipline: {warning}", file=sys.stderr)
