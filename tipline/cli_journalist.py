"""`tipline journalist`: add, list and remove journalists' accounts, and reset their codes."""

from __future__ import annotations

import argparse

from tipline.cli_common import CliError, give_to_folder_owner, open_accounts, settings_for, show_totp
from tipline.config import Settings


def cmd_journalist(args: argparse.Namespace) -> int:
    settings = settings_for(args)
    try:
        return _journalist(args, settings)
    finally:
        give_to_folder_owner(settings.journalist_private_dir)


def _journalist(args: argparse.Namespace, settings: Settings) -> int:
    from tipline.store.accounts import AccountError
    from tipline.store.activity import ADMIN, ActivityLog
    from tipline.store.secretfile import SecretFileError

    try:
        accounts = open_accounts(settings)
    except SecretFileError as e:
        raise CliError(str(e)) from None
    except OSError as e:
        raise CliError(
            f"Cannot open the journalist accounts in {settings.journalist_private_dir} ({e.strerror}). "
            "Run this as root, or as the journalist app's user."
        ) from None
    log = ActivityLog(accounts.sessions)
    try:
        if args.j_command == "add":
            passphrase = None
            if args.passphrase_file:
                try:
                    passphrase = args.passphrase_file.read_text("utf-8").split("\n", 1)[0]
                except (OSError, UnicodeDecodeError) as e:
                    raise CliError(f"Cannot read {args.passphrase_file}: {e}") from None
            enrolment = accounts.add(args.name, passphrase)
            log.record(ADMIN, "account_added", f"name={enrolment.name}")
            print(f"Added journalist {enrolment.name}.")
            if passphrase is None:
                print(
                    f"Passphrase (give it to them privately; it is not shown again): {enrolment.passphrase}"
                )
            show_totp(enrolment.totp_uri)
        elif args.j_command == "list":
            names = accounts.names()
            print(
                "\n".join(names) if names else "No journalists yet. Add one with: tipline journalist add NAME"
            )
        elif args.j_command == "remove":
            accounts.remove(args.name)
            log.record(ADMIN, "account_removed", f"name={args.name}")
            print(f"Removed {args.name} and ended their sessions.")
        elif args.j_command == "reset-totp":
            uri = accounts.reset_totp(args.name)
            log.record(ADMIN, "account_changed", f"name={args.name} change=reset-totp")
            print(f"New authenticator secret for {args.name}; the old one no longer works.")
            show_totp(uri)
    except AccountError as e:
        raise CliError(str(e)) from None
    return 0
