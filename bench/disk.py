"""What each way of keeping SQLite's disk clean costs per tip: journal modes, checkpoints, VACUUM.

Why this exists: docs/threat-model.md promises that a copy of the data folder
shows times to the hour, no arrival order and no deleted tip. SQLite can keep
that promise in several ways (a WAL truncated after each write, a rollback
journal, a VACUUM that rewrites every page in key order), each with its own
cost, which grows with the database. This script measures them side by side,
in one run, on this machine's disk. It is run by hand, never by the tests:

    .venv/bin/python bench/disk.py [--rows 0,1000,10000] [--writes 30] [--dir /var/lib/...]

For each setup and each starting size it makes a fresh database with the real
schema (tipline.store.models), fills it with --rows submissions, then times
--writes single-row inserts, each its own transaction with synchronous=FULL,
followed by whatever the setup does after a write; the setups take turns. It prints the median and
p90 per write, and the ratio to the old setup (WAL, no clean-up). Use --dir on
the disk the data folder will live on: fsync dominates, and it differs.

Then it asks the file system what Tipline cannot change: it makes --folders
folders one after another, as tips arrive, and prints how often a pair of
them is in creation order when sorted by inode number and when listed
(readdir, as tar and rsync walk). 100%, or 0% (the reverse), gives the order
away; about 50% is chance. On the reference VM, ext4 hands out increasing
inode numbers but lists by name hash; tmpfs lists newest first.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine

from tipline.store.models import Base

ROW = (
    "INSERT INTO submissions (id, received_hour, sealed_by, item_count, total_size, sealed_to)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def row() -> tuple:
    return (secrets.token_urlsafe(16), "2026-01-01T10:00Z", "browser", 2, 8192, "A" * 52)


@dataclass(frozen=True)
class Setup:
    name: str
    journal: str
    after: Callable[[sqlite3.Connection], None]


def nothing(_c: sqlite3.Connection) -> None:
    pass


def checkpoint(c: sqlite3.Connection) -> None:
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def vacuum(c: sqlite3.Connection) -> None:
    c.execute("VACUUM")


def vacuum_checkpoint(c: sqlite3.Connection) -> None:
    vacuum(c)
    checkpoint(c)


SETUPS = [
    Setup("WAL (old)", "WAL", nothing),
    Setup("WAL + checkpoint(TRUNCATE)", "WAL", checkpoint),
    Setup("TRUNCATE journal", "TRUNCATE", nothing),
    Setup("DELETE journal", "DELETE", nothing),
    Setup("WAL + VACUUM + checkpoint", "WAL", vacuum_checkpoint),
    Setup("DELETE journal + VACUUM", "DELETE", vacuum),
    Setup("TRUNCATE journal + VACUUM", "TRUNCATE", vacuum),
]


def connect(path: Path, journal: str) -> sqlite3.Connection:
    c = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT below
    for pragma in (f"journal_mode={journal}", "synchronous=FULL", "secure_delete=ON", "temp_store=MEMORY"):
        c.execute(f"PRAGMA {pragma}").fetchall()
    return c


def prepare(base: Path, setup: Setup, rows: int) -> sqlite3.Connection:
    """A fresh database with the real schema and `rows` submissions, cleaned as the setup cleans."""
    path = base / f"bench-{secrets.token_hex(4)}.sqlite3"
    Base.metadata.create_all(create_engine(f"sqlite:///{path}"))
    c = connect(path, setup.journal)
    c.execute("BEGIN")
    c.executemany(ROW, [row() for _ in range(rows)])
    c.execute("COMMIT")
    setup.after(c)
    return c


def write(c: sqlite3.Connection, setup: Setup) -> float:
    """One tip's row, in its own transaction, and what the setup does after it: milliseconds."""
    t = time.perf_counter()
    c.execute("BEGIN")
    c.execute(ROW, row())
    c.execute("COMMIT")
    setup.after(c)
    return (time.perf_counter() - t) * 1000


def measure(base: Path, rows: int, writes: int) -> dict[str, list[float]]:
    """Every setup's write times. Setups take turns, write by write, so a busy moment of a shared
    machine slows them all alike instead of whichever ran then."""
    conns = {s.name: prepare(base, s, rows) for s in SETUPS}
    times: dict[str, list[float]] = {s.name: [] for s in SETUPS}
    for _ in range(writes):
        for s in SETUPS:
            times[s.name].append(write(conns[s.name], s))
    for c in conns.values():
        c.close()
    for p in base.glob("bench-*"):
        p.unlink()
    return times


def concordance(seen: list[str], truth: list[str]) -> float:
    rank = {name: i for i, name in enumerate(truth)}
    pairs = [(a, b) for i, a in enumerate(seen) for b in seen[i + 1 :]]
    return sum(rank[a] < rank[b] for a, b in pairs) / len(pairs)


def file_system_order(base: Path, folders: int) -> tuple[float, float]:
    """(inode order, listing order): the share of pairs of folders in the order they were made."""
    parent = base / "submissions"
    parent.mkdir()
    made = [secrets.token_urlsafe(16) for _ in range(folders)]
    for name in made:
        (parent / name).mkdir()
        (parent / name / "0.envelope").write_bytes(b"x")
    by_inode = sorted(made, key=lambda n: (parent / n).stat().st_ino)
    listed = [e.name for e in os.scandir(parent)]
    return concordance(by_inode, made), concordance(listed, made)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--rows", default="0,1000,10000", help="starting sizes, comma-separated")
    p.add_argument("--writes", type=int, default=30, help="timed writes per setup and size (30)")
    p.add_argument("--dir", type=Path, help="where to make the databases (default $TMPDIR)")
    p.add_argument("--folders", type=int, default=40, help="folders for the file-system check (40)")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.rows.split(",")]
    base = Path(tempfile.mkdtemp(prefix="tipline-disk-", dir=args.dir))
    try:
        print(f"{'setup':<28} {'rows':>6} {'median ms':>10} {'p90 ms':>8} {'x old':>6}")
        for rows in sizes:
            old = None
            for name, times in measure(base, rows, args.writes).items():
                t = sorted(times)
                med, p90 = statistics.median(t), t[int(len(t) * 0.9) - 1]
                old = old or med
                print(f"{name:<28} {rows:>6} {med:>10.2f} {p90:>8.2f} {med / old:>6.2f}")
            print()
        inode, listing = file_system_order(base, args.folders)
        print(f"{args.folders} folders made one after another; pairs in creation order:")
        print(f"  by inode number {inode:.0%}, by directory listing {listing:.0%} (50% is chance)")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
