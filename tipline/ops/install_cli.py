"""`tipline install`: its arguments, and what it prints (the addresses, then the next steps as commands)."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from pathlib import Path

from tipline import __version__
from tipline.ops.install import Options, Outcome, install
from tipline.ops.install_files import DEFAULT_DATA_DIR, GUNICORN_CONF, TORRC, UNIT_DIR
from tipline.ops.install_layout import InstallError


def add_parser(sub: argparse._SubParsersAction, func: Callable[[argparse.Namespace], int]) -> None:
    p = sub.add_parser(
        "install",
        help="set up this Debian server as a tip line: users, folders, tor, units, timers (as root)",
        description="Set up this server as a running onion tip line (docs/install.md). Run as root; "
        "running it again changes only what differs.",
    )
    p.add_argument(
        "--org", required=True, help='the newsroom\'s name on the source pages, e.g. "The Daily Example"'
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"the data folder (default {DEFAULT_DATA_DIR})",
    )
    p.add_argument(
        "--key",
        type=Path,
        action="append",
        default=[],
        help="a journalist's public key (.pub, from tipline-offline keygen) to add; repeat for more. "
        "The apps start once there is one.",
    )
    p.set_defaults(func=func)


def run(args: argparse.Namespace) -> int:
    """Install, then print what changed, the two addresses and the next steps; InstallError propagates."""
    opts = Options(org=args.org, data_dir=args.data_dir.absolute(), keys=tuple(args.key))
    out = install(opts)
    print(report(opts, out))
    return 0


def next_steps(opts: Options, apps_started: bool) -> list[tuple[str, list[str]]]:
    """What is left for the admin, each as the exact commands (docs/install.md, "After the install")."""
    d = shlex.quote(str(opts.data_dir))
    keys = [f"tipline keys add --data-dir {d} journalist.pub && chmod 0640 {d}/keys/*.pub"]
    if not apps_started:  # they refuse to start without a key to seal tips to
        keys.append("systemctl enable --now tipline-source tipline-journalist")
    doctor = (
        f"tipline doctor --data-dir {d} --torrc {TORRC} --gunicorn-conf {GUNICORN_CONF} --units {UNIT_DIR}"
    )
    return [
        (
            "Add each journalist's public key (made with tipline-offline keygen on the offline machine; "
            "compare the fingerprint it prints with the journalist):",
            keys,
        ),
        (
            "Add each journalist's account (it prints a passphrase and a QR code for their authenticator):",
            [f"runuser -u tipline-journalist -- tipline journalist add NAME --data-dir {d}"],
        ),
        (
            "Give each journalist client authorization for the journalist address (the private half "
            "is for them only):",
            ["tipline onion client-auth NAME --install --out /root/tor-auth"],
        ),
        (
            "Set up notifications: [notify] in tipline.toml (docs/notifications.md); check, send once:",
            [doctor, "systemctl start tipline-notify.service"],
        ),
    ]


def report(opts: Options, out: Outcome) -> str:
    lines = []
    if out.changes:
        lines.append(f"Tipline {__version__} installed for {opts.org}:")
        lines += [f"  - {c}" for c in out.changes]
    else:
        lines.append(f"Tipline {__version__} is already installed for {opts.org}, nothing changed.")
    lines += [
        "",
        "Source address, to publish where sources will find it (your website, over HTTPS):",
        f"  {out.addresses['source']}",
        "Journalist address, for your journalists only (it needs their client authorization key):",
        f"  {out.addresses['journalist']}",
        "",
        "Next steps:",
    ]
    for n, (what, cmds) in enumerate(next_steps(opts, out.apps_started), 1):
        lines.append(f"{n}. {what}")
        lines += [f"     {c}" for c in cmds]
    problems = [f for f in out.findings if f.level == "problem"]
    if problems:
        lines += ["", f"tipline doctor: {len(problems)} problem(s), until the steps above are done:"]
        lines += [f"  {f}" for f in problems]
    else:
        lines += ["", "tipline doctor: all checks passed."]
    return "\n".join(lines)


__all__ = ["InstallError", "add_parser", "run"]
