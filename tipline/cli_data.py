"""`tipline keys`, `export` and `purge`: the commands that handle what the data folder holds."""

from __future__ import annotations

import argparse
import re
import sys

from tipline.cli_common import (
    CliError,
    data_folder_errors,
    open_store,
    record,
    require_upgraded,
    settings_for,
)


def days(text: str) -> int:
    if not text.endswith("d") or not text[:-1].isdigit():
        raise argparse.ArgumentTypeError("give a number of days, like 30d")
    return int(text[:-1])


def cmd_purge(args: argparse.Namespace) -> int:
    from tipline.store.schema import ACCOUNTS, SUBMISSIONS
    from tipline.store.uploads import open_uploads

    settings = settings_for(args)
    # It deletes rows and records that in the accounts database: both at this code's revision first.
    require_upgraded(settings, SUBMISSIONS, ACCOUNTS)
    after = args.after_download if args.after_download is not None else settings.delete_after_download_days
    retention = args.older_than is not None or bool(after)
    # Expired uploads in parts always go (docs/uploads.md), whatever the retention; a purge with no
    # retention set does only that, so a timer without --older-than still cleans them.
    with data_folder_errors(
        "Cannot delete the expired unfinished uploads",
        "Check that this user is in the data folder's group and may write there, then run it again.",
    ):
        expired = open_uploads(settings).remove_expired()
    if expired or args.uploads_only:  # a daily timer's log says nothing when nothing went
        print(f"Removed {expired} unfinished upload(s) past their time limit.")
    if not retention:
        if args.uploads_only:
            return 0
        raise CliError(
            "Say what to purge: --older-than 30d, and/or --after-download 7d "
            "(or set delete_after_download_days), or --uploads-only.",
            2,
        )
    store = open_store(settings)
    ids = store.expired(args.older_than, after)
    n, gone = store.delete(ids)
    print(f"Purged {n} submission(s).")
    if n:
        record(settings, "delete", f"submissions={n} conversations_deleted={len(gone)} by=retention", gone)
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from tipline.store.keyring import Keyring, KeyringError, compact
    from tipline.store.schema import ACCOUNTS

    settings = settings_for(args)
    if args.keys_command != "list":
        require_upgraded(settings, ACCOUNTS)  # before the key changes: the change is logged there
    ring = Keyring(settings.keys_dir)
    try:
        if args.keys_command == "add":
            try:
                # "-": standard input, for `runuser -u tipline -- tipline keys add ... - < key.pub`.
                text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise CliError(f"Cannot read {args.file}: {e}") from None
            key = ring.add(text)
            record(settings, "key_added", f"key={compact(key.fingerprint)}")
            print(f"Added key {key.fingerprint}. New tips are sealed to {len(ring.active())} key(s).")
            print("Check this fingerprint with the journalist over a channel you trust.")
        elif args.keys_command == "list":
            active = ring.active()
            if not active:
                print("No active keys. Add one with: tipline keys add --data-dir DIR FILE.pub")
            for k in active:
                print(f"active   {k.fingerprint}")
            for k in ring.retired():
                print(f"retired  {k.fingerprint}")
        elif args.keys_command == "retire":
            key = ring.retire(args.fingerprint)
            record(settings, "key_retired", f"key={compact(key.fingerprint)}")
            print(f"Retired {key.fingerprint}: new tips are no longer sealed to it.")
    except KeyringError as e:
        raise CliError(str(e)) from None
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tipline.format.bundle import BundleError
    from tipline.store.export import export_to_file
    from tipline.store.keyring import Keyring, KeyringError

    if args.out.exists():
        raise CliError(f"{args.out} already exists; choose another --out.")
    since = args.since
    if since is not None:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", since):
            since += "T00:00Z"
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:00Z", since):
            raise CliError("--since takes a day (2026-11-26) or an hour in UTC (2026-11-26T15:00Z).", 2)
    settings = settings_for(args)
    try:
        # The newsroom's keys travel in the bundle: tipline-offline reply seals to them.
        keys = Keyring(settings.keys_dir).active()
    except KeyringError as e:
        raise CliError(str(e)) from None
    try:
        subs, envs = export_to_file(open_store(settings), args.out, since=since, newsroom_keys=keys)
    except BundleError as e:
        raise CliError(str(e)) from None
    print(f"Wrote {args.out}: {subs} submission(s), {envs} envelope(s), all still encrypted.")
    return 0
