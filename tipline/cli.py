"""tipline: the server-side command (serve, keys, journalist, export, purge, demo, onion, doctor, upgrade,
install, backup, restore).

Each command builds Settings from the data folder, the environment and its
flags, then calls the store or the server; errors print one plain line.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tipline import __version__
from tipline.cli_common import (
    CliError,
    data_folder_errors,
    give_to_folder_owner,
    open_accounts,
    open_store,
    require_app_upgraded,
    require_upgraded,
    settings_for,
)
from tipline.cli_data import cmd_export, cmd_keys, cmd_purge, days
from tipline.cli_journalist import cmd_journalist
from tipline.config import ConfigError, Settings
from tipline.ops.torcontrol import DEFAULT_SOCKET as DEFAULT_CONTROL_SOCKET


def cmd_serve(args: argparse.Namespace) -> int:
    from tipline.config import require_loopback_bind
    from tipline.server import TiplineServer
    from tipline.store.keyring import Keyring
    from tipline.web.app import create_journalist_app, create_source_app

    settings = settings_for(
        args,
        bind=args.bind,
        max_upload_mb=args.max_upload_mb,
        max_files=args.max_files,
        onion_address=args.onion_address,
        workers=args.workers,
    )
    try:
        require_loopback_bind(settings.bind, "Set --bind (or TIPLINE_BIND, or bind in tipline.toml)")
    except ConfigError as e:
        raise CliError(str(e), 2) from None
    if args.app == "source":
        _check_newsroom(settings)
    if not Keyring(settings.keys_dir).active():
        raise CliError(
            f"No recipient key in {settings.keys_dir}, so tips could not be encrypted. "
            f"Add one first: tipline keys add --data-dir {settings.data_dir} journalist.pub"
        )
    # Before any worker starts: tables and secrets exist, and what was never acknowledged is
    # removed (by the source app only: the journalist app would delete the source app's uploads
    # in flight). A worker then writes nothing to boot, so a disk that fills later cannot stop
    # one from starting, and a full disk now is one clear line, not a worker's traceback.
    removed = _prepare(args.app, settings)
    if removed:
        print(f"Removed {removed} unacknowledged partial upload(s) left by an earlier stop.", file=sys.stderr)
    factory = create_journalist_app if args.app == "journalist" else create_source_app
    TiplineServer(factory, settings).run()
    return 0


def _check_newsroom(settings: Settings) -> None:
    """The [newsroom] settings, logos read, before any worker starts: a mistake is one line."""
    from tipline.newsroom import NewsroomError
    from tipline.web.newsroom_page import load_newsroom

    try:
        load_newsroom(settings)
    except NewsroomError as e:
        raise CliError(str(e), 2) from None


def _prepare(app: str, settings: Settings) -> int:
    """Make what the app's workers would otherwise make at boot; return the uploads removed."""
    from tipline.store.secretfile import load_or_create

    require_app_upgraded(settings, app)
    with data_folder_errors(
        f"Cannot prepare the data folder {settings.data_dir}",
        "Check that its disk has free space and that this user may write there, then start again.",
    ):
        store = open_store(settings)
        load_or_create(settings.csrf_secret_path(app))
        if app == "journalist":
            from tipline.store.activity import ActivityLog

            # Its tables (the activity log's too) and key file, before workers race to make them.
            ActivityLog(open_accounts(settings).sessions)
            return 0
        load_or_create(settings.install_salt_path, size=16)
        load_or_create(settings.source_session_key_path)
        return store.recover()


def cmd_log(args: argparse.Namespace) -> int:
    from tipline.ops.activity_cli import LogError, run
    from tipline.store.schema import ACCOUNTS, SUBMISSIONS

    settings = settings_for(args)
    require_upgraded(settings, SUBMISSIONS, ACCOUNTS)  # no accounts database made beside old journalists
    try:
        return run(args, settings)
    except LogError as e:
        raise CliError(str(e), e.code) from None
    finally:
        give_to_folder_owner(settings.journalist_private_dir)


def cmd_backup(args: argparse.Namespace) -> int:
    from tipline.ops.backup_cli import BackupCliError, run_backup, run_restore

    try:
        return (run_backup if args.command == "backup" else run_restore)(args, settings_for(args))
    except BackupCliError as e:
        raise CliError(str(e), e.code) from None


def cmd_onion(args: argparse.Namespace) -> int:
    from tipline.ops.onion import DEFAULT_HS_DIR, OnionError
    from tipline.ops.onion_cli import client_auth, onion_reload
    from tipline.ops.torcontrol import TorControlError

    hs = args.hs_dir or DEFAULT_HS_DIR
    try:
        if args.onion_command == "reload":
            return onion_reload(hs, args.control_socket)
        return client_auth(args, hs)
    except (OnionError, TorControlError) as e:
        raise CliError(str(e)) from None


def cmd_doctor(args: argparse.Namespace) -> int:
    from tipline.ops.doctor import PROBLEM, run_checks

    findings = run_checks(
        args.data_dir,
        config=args.config,
        torrc=args.torrc,
        gunicorn_conf=args.gunicorn_conf,
        units=args.units,
        source_user=args.source_user,
        journalist_user=args.journalist_user,
        group=args.group,
    )
    for f in findings:
        print(f)
    problems = sum(f.level == PROBLEM for f in findings)
    warnings = len(findings) - problems
    if problems:
        print(f"tipline doctor: {problems} problem(s), {warnings} warning(s).")
        return 1
    print(f"tipline doctor: all checks passed ({warnings} warning(s)).")
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    from tipline.ops.upgrade import UpgradeError, run

    settings = settings_for(args)
    try:
        return run(settings)
    except UpgradeError as e:
        raise CliError(str(e), e.code) from None
    finally:
        give_to_folder_owner(settings.journalist_private_dir)  # accounts.db, totp.key if it made them


def cmd_demo(args: argparse.Namespace) -> int:
    from tipline.demo import run_demo

    with data_folder_errors(
        f"Cannot set up the demo in {args.dir}",
        "Check that this user may write there, or give another folder with --dir.",
    ):
        return run_demo(args.dir, args.port, org=args.org, lang=args.lang)


def cmd_notify(args: argparse.Namespace) -> int:
    from tipline.notify.command import NotifyProblem, notify
    from tipline.store.schema import ACCOUNTS, SUBMISSIONS

    settings = settings_for(args)
    require_upgraded(settings, SUBMISSIONS, ACCOUNTS)  # it reads both, and may make the accounts one
    try:
        return notify(args, settings)
    except NotifyProblem as e:
        raise CliError(str(e), e.code) from None
    finally:
        give_to_folder_owner(settings.journalist_private_dir)  # its state file, beside accounts.db


def cmd_install(args: argparse.Namespace) -> int:
    from tipline.ops.install_cli import InstallError, run

    try:
        return run(args)
    except InstallError as e:
        raise CliError(str(e), e.code) from None
    except OSError as e:
        where = f" at {e.filename}" if e.filename else ""
        raise CliError(
            f"tipline install stopped{where}: {e.strerror}. Fix that, then run it again."
        ) from None


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
    s.add_argument(
        "--app",
        choices=["source", "journalist"],
        default="source",
        help="which app to serve: the sources' form (default) or the journalists' interface",
    )
    s.set_defaults(func=cmd_serve)

    j = sub.add_parser("journalist", help="manage journalist accounts")
    jsub = j.add_subparsers(dest="j_command", required=True)
    ja = with_data_dir(
        jsub.add_parser("add", help="add a journalist: passphrase and authenticator enrolment")
    )
    ja.add_argument("name")
    ja.add_argument(
        "--passphrase-file",
        type=Path,
        help="use this file's first line (7+ words) instead of a generated one",
    )
    with_data_dir(jsub.add_parser("list", help="list journalists"))
    jr = with_data_dir(jsub.add_parser("remove", help="remove a journalist and end their sessions"))
    jr.add_argument("name")
    jt = with_data_dir(jsub.add_parser("reset-totp", help="enrol a new authenticator for a journalist"))
    jt.add_argument("name")
    j.set_defaults(func=cmd_journalist)

    pu = with_data_dir(sub.add_parser("purge", help="delete old submissions (retention)"))
    pu.add_argument("--older-than", type=days, help="delete what arrived more than this long ago, e.g. 30d")
    pu.add_argument(
        "--after-download",
        type=days,
        help="delete what was first downloaded more than this long ago, e.g. 7d",
    )
    pu.add_argument(
        "--uploads-only",
        action="store_true",
        help="only delete unfinished uploads past their time limit (always done, whatever the retention)",
    )
    pu.set_defaults(func=cmd_purge)

    from tipline.ops.activity_cli import add_parser as add_log_parser

    add_log_parser(sub, with_data_dir, cmd_log)

    from tipline.ops.backup_cli import add_parsers as add_backup_parsers

    add_backup_parsers(sub, with_data_dir, cmd_backup, cmd_backup)

    k = sub.add_parser("keys", help="manage the recipient public keys")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    ka = with_data_dir(ksub.add_parser("add", help="add a journalist's public key"))
    ka.add_argument("file", type=Path, help="a .pub file made by tipline-offline keygen (- for stdin)")
    with_data_dir(ksub.add_parser("list", help="list keys with their fingerprints"))
    kr = with_data_dir(ksub.add_parser("retire", help="stop sealing new tips to a key"))
    kr.add_argument("fingerprint", help="as shown by tipline keys list")
    k.set_defaults(func=cmd_keys)

    e = with_data_dir(sub.add_parser("export", help="write a bundle of encrypted submissions"))
    e.add_argument("--out", type=Path, required=True, help="bundle file to write (must not exist)")
    e.add_argument("--since", help="only submissions received at or after this hour (YYYY-MM-DDTHH:00Z)")
    e.set_defaults(func=cmd_export)

    o = sub.add_parser("onion", help="Tor onion service helpers")
    osub = o.add_subparsers(dest="onion_command", required=True)
    hs_help = (
        "the journalist service's HiddenServiceDir, to read its hostname "
        "(default /var/lib/tor/tipline-journalist)"
    )
    sock_help = "tor's ControlSocket (default /run/tor/control, as in deploy/torrc)"
    oc = osub.add_parser("client-auth", help="make a journalist's client authorization key pair")
    oc.add_argument("name", help="the journalist's name (the .auth file's name)")
    oc.add_argument("--out", type=Path, help="also write NAME.auth and NAME.auth_private into this folder")
    oc.add_argument("--onion-address", help="the journalist service's .onion address")
    oc.add_argument("--hs-dir", type=Path, help=hs_help)
    oc.add_argument(
        "--install",
        action="store_true",
        help="write HS_DIR/authorized_clients/NAME.auth, reload tor over its control socket, "
        "and confirm that tor now serves the service with this key (as root)",
    )
    oc.add_argument("--control-socket", type=Path, default=DEFAULT_CONTROL_SOCKET, help=sock_help)
    oc.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="with --install, how long to wait for tor to confirm (default 60; tor must be on the network)",
    )
    orl = osub.add_parser(
        "reload", help="reload tor over its control socket and say whether it enforces client authorization"
    )
    orl.add_argument("--hs-dir", type=Path, help=hs_help)
    orl.add_argument("--control-socket", type=Path, default=DEFAULT_CONTROL_SOCKET, help=sock_help)
    o.set_defaults(func=cmd_onion)

    dr = with_data_dir(sub.add_parser("doctor", help="check a deployment and say what to fix"))
    dr.add_argument("--torrc", type=Path, help="also check this Tor configuration")
    dr.add_argument(
        "--gunicorn-conf", type=Path, help="also check this gunicorn config (deploy/gunicorn.conf.py)"
    )
    dr.add_argument(
        "--units",
        type=Path,
        help="also check the installed systemd units in this folder (/etc/systemd/system)",
    )
    dr.add_argument("--source-user", default="tipline-source", help="the source app's user (tipline-source)")
    dr.add_argument(
        "--journalist-user",
        default="tipline-journalist",
        help="the journalist app's user (tipline-journalist)",
    )
    dr.add_argument("--group", default="tipline", help="the group both users are in (tipline)")
    dr.set_defaults(func=cmd_doctor)

    from tipline.notify.command import add_parser as add_notify
    from tipline.ops.upgrade import add_parser as add_upgrade

    add_upgrade(sub, with_data_dir, cmd_upgrade)

    add_notify(sub, with_data_dir).set_defaults(func=cmd_notify)

    from tipline.ops.install_cli import add_parser as add_install

    add_install(sub, cmd_install)

    d = sub.add_parser("demo", help="run a demo tip line on this machine")
    d.add_argument(
        "--dir", type=Path, default=Path("tipline-demo"), help="demo folder (default ./tipline-demo)"
    )
    d.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    d.add_argument("--org", help='the newsroom\'s name on the source pages, e.g. "The Daily Example"')
    d.add_argument("--lang", help="print the source side's address in this language, e.g. es or ar")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    # Whatever the command writes (database, keys, bundles) is for this user only.
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as e:
        print(f"tipline: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:  # Ctrl-C before a server took over the signals (serve, demo)
        print("tipline: stopped.", file=sys.stderr)
        return 130
    except Exception as e:
        from tipline.store.schema import SchemaError  # here: only the commands that open a database need it

        if not isinstance(e, SchemaError):
            raise
        e.data_dir = e.data_dir or getattr(args, "data_dir", None) or os.environ.get("TIPLINE_DATA_DIR")
        print(f"tipline: {e}", file=sys.stderr)
        return e.code


if __name__ == "__main__":
    sys.exit(main())
