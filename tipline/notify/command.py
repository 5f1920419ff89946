"""The `tipline notify` command's parser and dispatch, so tipline/cli.py only wires it in.

Every problem comes back as NotifyProblem, one line and an exit status:
2 for a setting to fix, 1 for anything else (a channel that failed is 1 too).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tipline.config import Settings

from .settings import NotifyConfigError
from .state import StateError


class NotifyProblem(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def add_parser(sub, with_data_dir) -> argparse.ArgumentParser:
    n = with_data_dir(
        sub.add_parser(
            "notify",
            help="send the content-free notification that is due (a timer runs it hourly)",
            description="With no command: send what is due, retry what is pending (docs/notifications.md).",
        )
    )
    n.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be sent, to whom and by which route; send nothing",
    )
    nsub = n.add_subparsers(dest="n_command")

    def also_here(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        # SUPPRESS: given before the sub-command, --data-dir is not reset by the sub-command's default.
        sp.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help="the data folder")
        sp.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="a TOML settings file")
        return sp

    also_here(nsub.add_parser("test", help="send a test notification now on every channel"))
    na = also_here(nsub.add_parser("address", help="set or clear a journalist's own notification address"))
    na.add_argument("name", help="the journalist's account name")
    which = na.add_mutually_exclusive_group(required=True)
    which.add_argument("email", nargs="?", help="their address, like name@example.org")
    which.add_argument("--clear", action="store_true", help="stop sending them notifications")
    return n


def _address(args: argparse.Namespace, settings: Settings) -> int:
    from tipline.ops.activity_cli import record_admin
    from tipline.store.db import make_engine, make_sessions
    from tipline.store.models import AccountsBase

    from .addresses import NoSuchJournalist, NotifyAddresses

    engine = make_engine(settings.accounts_db_url, AccountsBase.metadata, file_mode=0o600)
    try:
        book = NotifyAddresses(make_sessions(engine))
        if args.clear:
            book.clear(args.name)
            print(f"Cleared {args.name}'s notification address; they get no notifications of their own now.")
        else:
            email = book.set(args.name, args.email)
            print(f"Notifications for {args.name} now also go to {email}.")
        warning = record_admin(settings, "notify_address_changed", f"name={args.name}")
        if warning:
            print(warning, file=sys.stderr)
    except NoSuchJournalist as e:
        raise NotifyProblem(f"{e} See tipline journalist list.") from None
    except NotifyConfigError as e:
        raise NotifyProblem(str(e), 2) from None
    finally:
        engine.dispose()
    return 0


def notify(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import OperationalError

    from .run import run, send_test

    try:
        if args.n_command == "address":
            return _address(args, settings)
        if args.n_command == "test":
            return send_test(settings)
        return run(settings, dry_run=args.dry_run)
    except NotifyConfigError as e:
        raise NotifyProblem(str(e), 2) from None
    except StateError as e:
        raise NotifyProblem(str(e)) from None
    except (OSError, OperationalError) as e:
        why = e.strerror if isinstance(e, OSError) else str(e.orig)
        raise NotifyProblem(
            f"Cannot open the databases in {settings.data_dir} ({why}). "
            "Run this as the journalist app's user, which may read both."
        ) from None
