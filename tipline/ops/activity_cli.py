"""`tipline log`: the activity log on the command line, and `tipline log purge` (retention).

cli.py wires these in; they raise LogError, which it prints as one line.
What the CLI itself does (keys, accounts, purges) is recorded through
`record_admin`, under the name ADMIN: the command line has no login.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from tipline.config import Settings
from tipline.store.activity import ACTIONS, ADMIN, ActivityLog

ALL = 10**9  # `tipline log` prints every entry; the page shows the newest 500


class LogError(Exception):
    """A problem to print on one line, with the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def missing_database(settings: Settings) -> Path | None:
    """The accounts database's file when it is SQLite and not made yet (no journalist enrolled)."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.accounts_db_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    path = Path(url.database)
    return None if path.exists() else path


def open_log(settings: Settings) -> ActivityLog:
    """The log in the accounts database (made if missing, as `tipline journalist add` does)."""
    from tipline.store.db import make_engine, make_sessions
    from tipline.store.models import AccountsBase

    engine = make_engine(settings.accounts_db_url, AccountsBase.metadata, file_mode=0o600)
    return ActivityLog(make_sessions(engine))


def _opened(settings: Settings, what: Callable[[ActivityLog], object], done: str = "") -> object:
    """Run `what` on the log; a database or file problem is one line saying what to do."""
    try:
        return what(open_log(settings))
    except (OSError, DBAPIError) as e:
        why = e.strerror if isinstance(e, OSError) else str(e.orig)
        raise LogError(
            f"{done}Cannot open the activity log in the accounts database ({why}). "
            "Run this as root, or as the journalist app's user."
        ) from None


def record_admin(settings: Settings, action: str, detail: str, forget: Iterable[str] = ()) -> str | None:
    """Record what a command just did, and forget the short ids of the conversations it deleted.
    Returns a warning to print when it could not be recorded.

    Before the first journalist is enrolled there is no accounts database, and
    none is made for this: the source app's machine may be set up before the
    journalist side, and a folder made here by root would be root's.
    """
    missing = missing_database(settings)
    if missing is not None:
        return f"Not recorded in the activity log: there is no accounts database yet ({missing})."
    try:

        def write(log: ActivityLog) -> None:
            log.record(ADMIN, action, detail)
            log.forget(forget)

        _opened(settings, write)
    except LogError as e:
        return f"Done, but not recorded in the activity log. {e}"
    return None


def _days(text: str) -> int:
    m = re.fullmatch(r"(\d{1,6})d?", text.strip())
    if not m or int(m.group(1)) < 1:
        raise argparse.ArgumentTypeError("give a whole number of days, 1 or more, like 365")
    return int(m.group(1))


def _since(text: str) -> str:
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError("give a day in UTC as YYYY-MM-DD, like 2026-12-01") from None
    return day.strftime("%Y-%m-%dT00:00Z")


def _action(text: str) -> str:
    if text not in ACTIONS:
        raise argparse.ArgumentTypeError(f"{text!r} is not an action; the actions are: {', '.join(ACTIONS)}")
    return text


def add_parser(sub, with_data_dir: Callable, func: Callable) -> None:
    """`tipline log [--journalist N] [--since DAY] [--action A]` and `tipline log purge --older-than DAYS`."""
    lg = with_data_dir(sub.add_parser("log", help="show the activity log (who did what, by the hour)"))
    lg.add_argument("--journalist", help="only this journalist's entries (admin (command line) for the CLI)")
    lg.add_argument("--since", type=_since, help="only entries from this day on, in UTC (YYYY-MM-DD)")
    lg.add_argument("--action", type=_action, help=f"only this action: {', '.join(ACTIONS)}")
    lsub = lg.add_subparsers(dest="log_command")
    pu = lsub.add_parser("purge", help="delete entries older than the retention period (this is logged)")
    # SUPPRESS: given before `purge` or after it, --data-dir is kept, not reset by this parser.
    pu.add_argument(
        "--data-dir", type=Path, default=argparse.SUPPRESS, help="the data folder (or TIPLINE_DATA_DIR)"
    )
    pu.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="a TOML settings file")
    pu.add_argument(
        "--older-than",
        type=_days,
        metavar="DAYS",
        help="delete entries of hours more than DAYS days ago (default: activity_retention_days, 365)",
    )
    lg.set_defaults(func=func)


def run(args: argparse.Namespace, settings: Settings) -> int:
    missing = missing_database(settings)
    if missing is not None:
        print(f"There is no activity log yet: no journalist has been enrolled ({missing} does not exist).")
        return 0
    if getattr(args, "log_command", None) == "purge":
        days = args.older_than or settings.activity_retention_days
        n = _opened(settings, lambda log: log.purge(days, ADMIN))
        noun = "entry" if n == 1 else "entries"
        print(f"Purged {n} activity log {noun} older than {days} days. This purge is itself logged.")
        return 0
    entries = _opened(
        settings,
        lambda log: log.entries(args.since, args.journalist, limit=ALL, action=args.action),
    )
    if not entries:
        print("No activity log entries match.")
    for e in entries:  # type: ignore[union-attr]
        times = f"x{e.count}"
        print(f"{e.hour}\t{e.journalist}\t{e.action}\t{times}\t{e.detail}".rstrip("\t"))
    return 0
