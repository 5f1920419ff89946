"""What one activity log entry costs on SQLite as the log grows: the upsert, then VACUUM.

Why this exists: every write to a Tipline SQLite database is followed by a
VACUUM (tipline/store/db.py), whose cost grows with the file, and the
activity log lives in the accounts database that every login and download
now writes to. This prints the median and p90 of ActivityLog.record with
the log already holding --rows entries (a year of a busy newsroom is about
20,000 with counting). Run by hand, never by the tests:

    .venv/bin/python bench/activity.py [--rows 0,2000,20000] [--writes 20] [--dir /var/lib/...]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from tipline.store.activity import ActivityLog
from tipline.store.db import make_engine, make_sessions
from tipline.store.models import AccountsBase


def fill(db: Path, rows: int) -> None:
    """Rows as a year of work would leave them: one per journalist, action and detail in an hour."""
    con = sqlite3.connect(db)
    with con:
        con.executemany(
            "insert into activity_log values (?, ?, ?, ?, 1)",
            (
                (
                    f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00Z",
                    f"j{i % 7}",
                    "download",
                    f"submissions=1 conversations={i:022d}",
                )
                for i in range(rows)
            ),
        )
    con.execute("VACUUM")
    con.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", default="0,2000,20000")
    p.add_argument("--writes", type=int, default=20)
    p.add_argument("--dir", type=Path, default=None)
    a = p.parse_args()
    print(f"{'entries':>8} {'file KiB':>9} {'median ms':>10} {'p90 ms':>8}")
    for rows in (int(r) for r in a.rows.split(",")):
        with tempfile.TemporaryDirectory(dir=a.dir) as d:
            db = Path(d) / "accounts.db"
            log = ActivityLog(make_sessions(make_engine(f"sqlite:///{db}", AccountsBase.metadata, 0o600)))
            fill(db, rows)
            times = []
            for i in range(a.writes):
                t = time.perf_counter()
                log.record("ana", "reply", f"conversation={i:022d} sealed_by=browser")
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            p90 = times[int(len(times) * 0.9) - 1]
            kib = db.stat().st_size // 1024
            print(f"{rows:>8} {kib:>9} {statistics.median(times):>10.1f} {p90:>8.1f}")


if __name__ == "__main__":
    main()
