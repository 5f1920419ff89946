"""The login throttle: slow guessing down, never lock anyone out.

Two GCRA buckets (token buckets kept as one "theoretical arrival time"
each) per name tried, checked and charged together in one conditional
UPDATE, so parallel requests cannot all pass one check:

- short: 5 attempts at once, then one every 12 s (5 a minute);
- long: 20 attempts, then one every 6 minutes (10 an hour).

An attempt is charged before the passphrase is verified, and given back
when the login succeeds. Both buckets refill with time alone: a stranger's
wrong try every 10 minutes never makes the journalist wait, and however
many tries came before, the wait is never longer than 6 minutes.
docs/threat-model.md gives the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import LoginThrottle


@dataclass(frozen=True)
class Bucket:
    interval_ms: int  # one attempt back per interval
    burst: int  # attempts allowed at once from full

    @property
    def tolerance_ms(self) -> int:
        return (self.burst - 1) * self.interval_ms


SHORT = Bucket(interval_ms=12_000, burst=5)
LONG = Bucket(interval_ms=360_000, burst=20)
# Each allowed attempt adds at most one row, and prunes up to this many recovered ones.
PRUNE_BATCH = 100


def _advance(column, bucket: Bucket, now_ms: int):
    """max(tat, now) + interval, in SQL that SQLite and PostgreSQL both take."""
    return case((column > now_ms, column), else_=now_ms) + bucket.interval_ms


def reserve(s: Session, name_tag: str, now_ms: int) -> int:
    """Charge one attempt to `name_tag`. Returns 0 if allowed, else the seconds to wait (1 or more).

    The caller commits at once, before the slow passphrase check, so no lock
    is held during it.
    """
    _ensure_row(s, name_tag)
    t = LoginThrottle
    allowed = s.execute(
        update(t)
        .where(
            t.name_tag == name_tag,
            t.short_tat <= now_ms + SHORT.tolerance_ms,
            t.long_tat <= now_ms + LONG.tolerance_ms,
        )
        .values(short_tat=_advance(t.short_tat, SHORT, now_ms), long_tat=_advance(t.long_tat, LONG, now_ms))
        .execution_options(synchronize_session=False)
    ).rowcount
    # Rows that have fully recovered mean the same as no row: drop them, so the table stays small.
    # SKIP LOCKED (PostgreSQL; SQLite has one writer anyway): pruning never waits on, or
    # deadlocks with, a parallel login holding its own row.
    stale = (
        select(t.name_tag)
        .where(t.long_tat <= now_ms, t.short_tat <= now_ms, t.name_tag != name_tag)
        .limit(PRUNE_BATCH)
        .with_for_update(skip_locked=True)
    )
    s.execute(delete(t).where(t.name_tag.in_(stale)).execution_options(synchronize_session=False))
    if allowed == 1:
        return 0
    short_tat, long_tat = s.execute(select(t.short_tat, t.long_tat).where(t.name_tag == name_tag)).one()
    # Never more than a bucket's interval: a parallel request that read the clock a moment
    # before this one's may have charged it "later", and that moment is not worth a second.
    wait_ms = max(
        min(short_tat - SHORT.tolerance_ms - now_ms, SHORT.interval_ms),
        min(long_tat - LONG.tolerance_ms - now_ms, LONG.interval_ms),
    )
    return max(1, -(-wait_ms // 1000))


def refund(s: Session, name_tag: str) -> None:
    """Give back the attempt a successful login was charged: the journalist's own logins cost nothing."""
    t = LoginThrottle
    s.execute(
        update(t)
        .where(t.name_tag == name_tag)
        .values(short_tat=t.short_tat - SHORT.interval_ms, long_tat=t.long_tat - LONG.interval_ms)
        .execution_options(synchronize_session=False)
    )


def _ensure_row(s: Session, name_tag: str) -> None:
    """Insert a full row for a name not seen lately; a row inserted meanwhile by another request stands."""
    dialect = s.get_bind().dialect.name
    values = {"name_tag": name_tag, "short_tat": 0, "long_tat": 0}
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        s.execute(insert(LoginThrottle).values(**values).on_conflict_do_nothing(index_elements=["name_tag"]))
        return
    if s.get(LoginThrottle, name_tag) is None:
        try:
            with s.begin_nested():
                s.add(LoginThrottle(**values))
        except IntegrityError:
            pass
