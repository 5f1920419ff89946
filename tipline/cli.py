"""tipline: the server-side command (serve, keys, export, demo).

Each command builds Settings from the data folder, the environment and its
flags, then calls the store or the server; errors print one plain line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tipline import __version__
from tipline.config import ConfigError, Settings, load_settings


class CliError(Exception):
    """A problem to print on one line, with the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _settings(args: argparse.Namespace, **flags) -> Settings:
    try:
        return load_settings(args.data_dir, config_file=getattr(args, "config", None), **flags)
    except ConfigError as e:
        raise CliError(str(e), 2) from None


def _store(settings: Settings):
    from tipline.store.db import make_engine, make_sessions
    from tipline.store.submissions import SubmissionStore

    return SubmissionStore(settings.store_dir, make_sessions(make_engine(settings.db_url)))


def cmd_serve(args: argparse.Namespace) -> int:
    from tipline.server import TiplineServer
    from tipline.store.keyring import Keyring
    from tipline.web.app import create_source_app

    settings = _settings(
        args,
        bind=args.bind,
        max_upload_mb=args.max_upload_mb,
        max_files=args.max_files,
        onion_address=args.onion_address,
        workers=args.workers,
    )
    if not Keyring(settings.keys_dir).active():
        raise CliError(
            f"No recipient key in {settings.keys_dir}, so tips could not be encrypted. "
            f"Add one first: tipline keys add --data-dir {settings.data_dir} journalist.pub"
        )
    # Before any worker starts: tables exist, and what was never acknowledged is removed.
    removed = _store(settings).recover()
    if removed:
        print(f"Removed {removed} unacknowledged partial upload(s) left by an earlier stop.", file=sys.stderr)
    TiplineServer(create_source_app, settings).run()
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from tipline.store.keyring import Keyring, KeyringError

    settings = _settings(args)
    ring = Keyring(settings.keys_dir)
    try:
        if args.keys_command == "add":
            try:
                text = args.file.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise CliError(f"Cannot read {args.file}: {e}") from None
            key = ring.add(text)
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
            print(f"Retired {key.fingerprint}: new tips are no longer sealed to it.")
    except KeyringError as e:
        raise CliError(str(e)) from None
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tipline.store.export import export_to_file

    if args.out.exists():
        raise CliError(f"{args.out} already exists; choose another --out.")
    subs, envs = export_to_file(_store(_settings(args)), args.out, since=args.since)
    print(f"Wrote {args.out}: {subs} submission(s), {envs} envelope(s), all still encrypted.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from tipline.demo import run_demo

    return run_demo(args.dir, args.port)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tipline", description="Tipline, a secure tip line for newsrooms.")
    p.add_argument("--version", action="version", version=f"tipline {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def with_data_dir(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--data-dir", type=Path, help="the data folder (or TIPLINE_DATA_DIR)")
        sp.add_argument("--config", type=Path, help="a TOML settings file (default: DATA_DIR/tipline.toml)")
        return sp

    s = with_data_dir(sub.add_parser("serve", help="run the source web app under gunicorn"))
    s.add_argument("--bind", help="address to listen on (default 127.0.0.1:8080; keep it on loopback)")
    s.add_argument("--max-upload-mb", type=int, help="largest submission in MB (default 500)")
    s.add_argument("--max-files", type=int, help="most files in one submission (default 20)")
    s.add_argument("--onion-address", help="this tip line's .onion name, for the Onion-Location header")
    s.add_argument("--workers", type=int, help="gunicorn worker processes (default 2)")
    s.set_defaults(func=cmd_serve)

    k = sub.add_parser("keys", help="manage the recipient public keys")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    ka = with_data_dir(ksub.add_parser("add", help="add a journalist's public key"))
    ka.add_argument("file", type=Path, help="a .pub file made by tipline-offline keygen")
    with_data_dir(ksub.add_parser("list", help="list keys with their fingerprints"))
    kr = with_data_dir(ksub.add_parser("retire", help="stop sealing new tips to a key"))
    kr.add_argument("fingerprint", help="as shown by tipline keys list")
    k.set_defaults(func=cmd_keys)

    e = with_data_dir(sub.add_parser("export", help="write a bundle of encrypted submissions"))
    e.add_argument("--out", type=Path, required=True, help="bundle file to write (must not exist)")
    e.add_argument("--since", help="only submissions received at or after this hour (YYYY-MM-DDTHH:00Z)")
    e.set_defaults(func=cmd_export)

    d = sub.add_parser("demo", help="run a demo tip line on this machine")
    d.add_argument(
        "--dir", type=Path, default=Path("tipline-demo"), help="demo folder (default ./tipline-demo)"
    )
    d.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as e:
        print(f"tipline: {e}", file=sys.stderr)
        return e.code


if __name__ == "__main__":
    sys.exit(main())
