"""tipline: the server-side command (demo for now; serve, keys, export to come)."""

from __future__ import annotations

import argparse
import sys

from tipline import __version__


def cmd_demo(args: argparse.Namespace) -> int:
    from tipline.demo import run_offline_demo

    return run_offline_demo(args.dir)


def main(argv: list[str] | None = None) -> int:
    from pathlib import Path

    p = argparse.ArgumentParser(prog="tipline", description="Tipline, a secure tip line for newsrooms.")
    p.add_argument("--version", action="version", version=f"tipline {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="run a demonstration in a local folder")
    d.add_argument(
        "--dir", type=Path, default=Path("tipline-demo"), help="demo folder (default: ./tipline-demo)"
    )
    d.set_defaults(func=cmd_demo)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
