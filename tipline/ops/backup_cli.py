"""`tipline backup` and `tipline restore` on the command line; cli.py wires them in.

Both raise BackupCliError, printed by cli.py as one line with its exit code.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from tipline.config import Settings

from .doctor_layout import GROUP, JOURNALIST_USER, SOURCE_USER

MIN_PASSPHRASE = 12


class BackupCliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def add_parsers(sub, with_data_dir: Callable, backup: Callable, restore: Callable) -> None:
    b = with_data_dir(sub.add_parser("backup", help="write one consistent backup file while the apps serve"))
    b.add_argument(
        "--out", type=Path, required=True, help="the backup file to write (0600; outside the data folder)"
    )
    b.add_argument(
        "--passphrase-file",
        type=Path,
        help="seal the backup with the passphrase on this file's first line (Argon2id + XChaCha20-Poly1305)",
    )
    b.add_argument(
        "--journalist-user",
        default=JOURNALIST_USER,
        help=f"on PostgreSQL, as root: the databases' owner, whom pg_dump runs as ({JOURNALIST_USER})",
    )
    b.set_defaults(func=backup)
    r = with_data_dir(sub.add_parser("restore", help="restore a backup onto a fresh install (apps stopped)"))
    r.add_argument("file", type=Path, help="the backup file `tipline backup` wrote")
    r.add_argument("--passphrase-file", type=Path, help="the passphrase the backup was sealed with")
    # As `tipline doctor`'s: whose files a restore as root makes them (docs/install.md, step 4).
    r.add_argument("--source-user", default=SOURCE_USER, help=f"the source app's user ({SOURCE_USER})")
    r.add_argument(
        "--journalist-user",
        default=JOURNALIST_USER,
        help=f"the journalist app's user ({JOURNALIST_USER}); on PostgreSQL, whom psql runs as",
    )
    r.add_argument("--group", default=GROUP, help=f"the group both users are in ({GROUP})")
    r.set_defaults(func=restore)


def _passphrase(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise BackupCliError(f"Cannot read the passphrase file {path} ({e}).", 2) from None
    phrase = lines[0] if lines else ""
    if len(phrase) < MIN_PASSPHRASE:
        raise BackupCliError(f"The passphrase in {path} is shorter than {MIN_PASSPHRASE} characters.", 2)
    return phrase.encode("utf-8")


def _database(e: Exception) -> BackupCliError:
    why = (
        e.strerror
        if isinstance(e, OSError)
        else (str(getattr(e, "orig", e)).strip().splitlines() or ["?"])[0]
    )
    return BackupCliError(
        f"Cannot read or write the data ({why}). Run this as root, on the tip line's server."
    )


def run_backup(args: argparse.Namespace, settings: Settings) -> int:
    from .backup import BackupError, take_backup
    from .pgdump import PostgresError

    try:
        subs, replies = take_backup(
            settings, args.out, _passphrase(args.passphrase_file), args.journalist_user
        )
    except (BackupError, PostgresError) as e:
        raise BackupCliError(str(e)) from None
    except (OSError, DBAPIError, sqlite3.Error) as e:
        raise _database(e) from None
    sealed = (
        "sealed with the passphrase" if args.passphrase_file else "NOT sealed: keep it on an encrypted disk"
    )
    print(
        f"Wrote {args.out}: {subs} submission(s), {replies} reply(ies), accounts, keys, settings; {sealed}."
    )
    return 0


def run_restore(args: argparse.Namespace, settings: Settings) -> int:
    from .restore import RestoreError, restore_backup

    try:
        people = (args.source_user, args.journalist_user, args.group)
        envelopes, notes = restore_backup(settings, args.file, _passphrase(args.passphrase_file), people)
    except RestoreError as e:
        raise BackupCliError(f"{e} Nothing was changed.") from None
    except (OSError, DBAPIError, sqlite3.Error) as e:
        raise _database(e) from None
    print(f"Restored {args.file} into {settings.data_dir}: {envelopes} envelope file(s).")
    for note in notes:
        print(note)
    print("Start the apps, then run `tipline doctor`.")
    return 0
