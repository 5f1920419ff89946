"""tipline: the server-side command (serve, keys, journalist, export, purge, demo, onion, doctor, upgrade,
install, backup, restore).

Each command builds Settings from the data folder, the environment and its
flags, then calls the store or the server; errors print one plain line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from tipline import __version__
from tipline.config import ConfigError, Settings, load_settings
from tipline.ops.torcontrol import DEFAULT_SOCKET as DEFAULT_CONTROL_SOCKET


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

    engine = make_engine(settings.db_url, data_dir=settings.data_dir)  # SchemaError: main() says it
    return SubmissionStore(settings.store_dir, make_sessions(engine))


def cmd_serve(args: argparse.Namespace) -> int:
    from tipline.config import require_loopback_bind
    from tipline.server import TiplineServer
    from tipline.store.keyring import Keyring
    from tipline.web.app import create_journalist_app, create_source_app

    settings = _settings(
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


@contextlib.contextmanager
def _data_folder_errors(cannot: str, advice: str) -> Iterator[None]:
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


def _prepare(app: str, settings: Settings) -> int:
    """Make what the app's workers would otherwise make at boot; return the uploads removed."""
    from tipline.store.secretfile import load_or_create

    with _data_folder_errors(
        f"Cannot prepare the data folder {settings.data_dir}",
        "Check that its disk has free space and that this user may write there, then start again.",
    ):
        store = _store(settings)
        load_or_create(settings.csrf_secret_path(app))
        if app == "journalist":
            from tipline.store.activity import ActivityLog

            # Its tables (the activity log's too) and key file, before workers race to make them.
            ActivityLog(_accounts(settings).sessions)
            return 0
        load_or_create(settings.install_salt_path, size=16)
        load_or_create(settings.source_session_key_path)
        return store.recover()


def _accounts(settings: Settings):
    """The accounts database (accounts_database_url) and the TOTP key, both under DATA_DIR/journalist/."""
    from tipline.store.accounts import open_accounts

    return open_accounts(settings.accounts_db_url, settings.totp_key_path, data_dir=settings.data_dir)


def _give_to_folder_owner(folder: Path) -> None:
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


def _show_totp(uri: str) -> None:
    import io

    import segno

    qr = io.StringIO()
    segno.make(uri, error="m").terminal(out=qr, compact=True)
    print("Scan this with the journalist's authenticator app (or type the secret from the line below):")
    print(qr.getvalue())
    print(uri)


def cmd_journalist(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        return _journalist(args, settings)
    finally:
        _give_to_folder_owner(settings.journalist_private_dir)


def _journalist(args: argparse.Namespace, settings: Settings) -> int:
    from tipline.store.accounts import AccountError
    from tipline.store.activity import ADMIN, ActivityLog
    from tipline.store.secretfile import SecretFileError

    try:
        accounts = _accounts(settings)
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
            _show_totp(enrolment.totp_uri)
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
            _show_totp(uri)
    except AccountError as e:
        raise CliError(str(e)) from None
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    from tipline.ops.activity_cli import LogError, run

    settings = _settings(args)
    try:
        return run(args, settings)
    except LogError as e:
        raise CliError(str(e), e.code) from None
    finally:
        _give_to_folder_owner(settings.journalist_private_dir)


def cmd_backup(args: argparse.Namespace) -> int:
    from tipline.ops.backup_cli import BackupCliError, run_backup, run_restore

    try:
        return (run_backup if args.command == "backup" else run_restore)(args, _settings(args))
    except BackupCliError as e:
        raise CliError(str(e), e.code) from None


def _record(settings: Settings, action: str, detail: str, forget: Iterable[str] = ()) -> None:
    """Put what a command did in the activity log (tipline/ops/activity_cli.py), owned as the app needs.

    The action is done by then: a log that cannot be written is a warning on stderr, not a failure.
    """
    from tipline.ops.activity_cli import record_admin

    try:
        warning = record_admin(settings, action, detail, forget)
    finally:
        _give_to_folder_owner(settings.journalist_private_dir)
    if warning:
        print(f"tipline: {warning}", file=sys.stderr)


def _days(text: str) -> int:
    if not text.endswith("d") or not text[:-1].isdigit():
        raise argparse.ArgumentTypeError("give a number of days, like 30d")
    return int(text[:-1])


def cmd_purge(args: argparse.Namespace) -> int:
    from tipline.store.uploads import open_uploads

    settings = _settings(args)
    after = args.after_download if args.after_download is not None else settings.delete_after_download_days
    retention = args.older_than is not None or bool(after)
    # Expired uploads in parts always go (docs/uploads.md), whatever the retention; a purge with no
    # retention set does only that, so a timer without --older-than still cleans them.
    with _data_folder_errors(
        "Cannot delete the expired unfinished uploads",
        "Check that this user is in the data folder's group and may write there, then run it again.",
    ):
        expired = open_uploads(settings).remove_expired()
    print(f"Removed {expired} unfinished upload(s) past their time limit.")
    if not retention:
        if args.uploads_only:
            return 0
        raise CliError(
            "Say what to purge: --older-than 30d, and/or --after-download 7d "
            "(or set delete_after_download_days), or --uploads-only.",
            2,
        )
    store = _store(settings)
    ids = store.expired(args.older_than, after)
    n, gone = store.delete(ids)
    print(f"Purged {n} submission(s).")
    if n:
        _record(settings, "delete", f"submissions={n} conversations_deleted={len(gone)} by=retention", gone)
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from tipline.store.keyring import Keyring, KeyringError, compact

    settings = _settings(args)
    ring = Keyring(settings.keys_dir)
    try:
        if args.keys_command == "add":
            try:
                # "-": standard input, for `runuser -u tipline -- tipline keys add ... - < key.pub`.
                text = sys.stdin.read() if str(args.file) == "-" else args.file.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise CliError(f"Cannot read {args.file}: {e}") from None
            key = ring.add(text)
            _record(settings, "key_added", f"key={compact(key.fingerprint)}")
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
            _record(settings, "key_retired", f"key={compact(key.fingerprint)}")
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
    settings = _settings(args)
    try:
        # The newsroom's keys travel in the bundle: tipline-offline reply seals to them.
        keys = Keyring(settings.keys_dir).active()
    except KeyringError as e:
        raise CliError(str(e)) from None
    try:
        subs, envs = export_to_file(_store(settings), args.out, since=since, newsroom_keys=keys)
    except BundleError as e:
        raise CliError(str(e)) from None
    print(f"Wrote {args.out}: {subs} submission(s), {envs} envelope(s), all still encrypted.")
    return 0


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

    settings = _settings(args)
    try:
        return run(settings)
    except UpgradeError as e:
        raise CliError(str(e), e.code) from None
    finally:
        _give_to_folder_owner(settings.journalist_private_dir)  # accounts.db, totp.key if it made them


def cmd_demo(args: argparse.Namespace) -> int:
    from tipline.demo import run_demo

    with _data_folder_errors(
        f"Cannot set up the demo in {args.dir}",
        "Check that this user may write there, or give another folder with --dir.",
    ):
        return run_demo(args.dir, args.port, org=args.org, lang=args.lang)


def cmd_notify(args: argparse.Namespace) -> int:
    from tipline.notify.command import NotifyProblem, notify

    settings = _settings(args)
    try:
        return notify(args, settings)
    except NotifyProblem as e:
        raise CliError(str(e), e.code) from None
    finally:
        _give_to_folder_owner(settings.journalist_private_dir)  # its state file, beside accounts.db


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
    pu.add_argument("--older-than", type=_days, help="delete what arrived more than this long ago, e.g. 30d")
    pu.add_argument(
        "--after-download",
        type=_days,
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
