"""The activity log: who did what to the tip line, to the hour (docs/activity-log.md).

No Flask here: the journalist app and the `tipline` command both record into
it, in the accounts database (models.AccountsBase), which the source app
never opens. An entry is an hour, a journalist's name, an action from a
fixed list, and a short detail made of identifiers and counts: never a
source's data, an address, a user agent or a time finer than the hour.

Entries that are alike in all four are one row with a count: the same
journalist downloading the same conversation twice in an hour is one row
counted twice. So the rows keep no order within an hour, and a flood of
failed logins under one name grows a count, not the table.

The apps only ever add; `purge` (a CLI action) is the one way to remove
entries, and it records itself in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Integer, String, delete, func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from .models import AccountsBase, Journalist

ACTIONS = (
    "login",
    "login_failed",
    "logout",
    "download",
    "reply",
    "delete",
    "key_added",
    "key_retired",
    "account_added",
    "account_changed",
    "account_removed",
    "settings_changed",
    "log_purged",
    "notify_address_changed",
)
# Who a CLI action is recorded under: the command line has no journalist's login.
ADMIN = "admin (command line)"
# A failed login under a name with no account: typos and probes are counted, never stored as typed.
UNKNOWN_NAME = "(unknown name)"
MAX_NAME, MAX_DETAIL = 64, 400
# Ids listed in a detail before the rest are only counted ("+3"): a detail stays short.
MAX_IDS = 10
# A conversation is named by the first characters of its id, as the journalists' list shows it:
# once it is deleted its full id is in no file (tests/store/test_forensics.py), and forget()
# takes its short id out of the log too.
SHORT_ID = 8
# What a deleted conversation's short id becomes in the entries that named it.
GONE = "deleted"


class ActivityEntry(AccountsBase):
    """One kind of action in one hour: counted, never ordered (WITHOUT ROWID: no insertion order)."""

    __tablename__ = "activity_log"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 (SQLAlchemy's own convention)

    hour: Mapped[str] = mapped_column(String(17), primary_key=True)
    journalist: Mapped[str] = mapped_column(String(MAX_NAME), primary_key=True)
    action: Mapped[str] = mapped_column(String(32), primary_key=True)
    detail: Mapped[str] = mapped_column(String(MAX_DETAIL), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=1)


@dataclass(frozen=True)
class Entry:
    hour: str
    journalist: str
    action: str
    detail: str
    count: int


def hour_of(t: float) -> str:
    """The UTC hour of a timestamp, as every hour in Tipline is written: 2026-12-01T14:00Z."""
    return time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(t))


def short_id(value: str) -> str:
    return value[:SHORT_ID]


def id_detail(label: str, values: Iterable[str]) -> str:
    """`label=a,b,c` for a detail: short ids, sorted, those past MAX_IDS counted as +N."""
    values = sorted({short_id(v) for v in values})
    shown = ",".join(values[:MAX_IDS])
    more = f"+{len(values) - MAX_IDS}" if len(values) > MAX_IDS else ""
    return f"{label}={shown}{more}" if values else f"{label}=none"


class ActivityLog:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        _ensure_table(sessions)

    def record(self, journalist: str, action: str, detail: str = "", now: float | None = None) -> None:
        """Count one action in the present hour. A wrong action or an over-long text is a bug: it raises."""
        if action not in ACTIONS:
            raise ValueError(f"unknown activity {action!r}")
        if not journalist or len(journalist) > MAX_NAME or len(detail) > MAX_DETAIL:
            raise ValueError("an activity's name or detail is empty or too long")
        hour = hour_of(time.time() if now is None else now)
        with self.sessions.begin() as s:
            _count_one(s, hour, journalist, action, detail)

    def forget(self, conversation_ids: Iterable[str]) -> int:
        """Take deleted conversations' short ids out of every entry: a log that kept them would
        link a later look at the server back to a conversation the newsroom chose to forget.

        Each id becomes GONE; entries that become alike are merged, their counts added.
        Returns how many entries changed.
        """
        gone = {short_id(c) for c in conversation_ids if c}
        if not gone:
            return 0
        e = ActivityEntry
        changed = 0
        with self.sessions.begin() as s:
            like = [e.detail.contains(g, autoescape=True) for g in sorted(gone)]
            for row in list(s.scalars(select(e).where(or_(*like)))):
                detail = _without(row.detail, gone)
                if detail == row.detail:
                    continue
                hour, journalist, action, count = row.hour, row.journalist, row.action, row.count
                s.delete(row)
                s.flush()
                _count_one(s, hour, journalist, action, detail, count)
                changed += 1
        return changed

    def name_or_unknown(self, name: str) -> str:
        """The name if an account has it, else UNKNOWN_NAME: what a failed login is recorded under."""
        with self.sessions() as s:
            known = len(name) <= MAX_NAME and s.get(Journalist, name) is not None
        return name if known else UNKNOWN_NAME

    def entries(
        self,
        since_hour: str | None = None,
        journalist: str | None = None,
        limit: int = 500,
        action: str | None = None,
    ) -> list[Entry]:
        """Newest hour first; within an hour by name, action and detail (never by arrival)."""
        e = ActivityEntry
        q = select(e)
        if since_hour is not None:
            q = q.where(e.hour >= since_hour)
        if journalist is not None:
            q = q.where(e.journalist == journalist)
        if action is not None:
            q = q.where(e.action == action)
        q = q.order_by(e.hour.desc(), e.journalist, e.action, e.detail).limit(limit)
        with self.sessions() as s:
            return [Entry(r.hour, r.journalist, r.action, r.detail, r.count) for r in s.scalars(q)]

    def journalists(self) -> list[str]:
        """Every name the log holds, for the page's filter."""
        with self.sessions() as s:
            q = select(ActivityEntry.journalist).distinct().order_by(ActivityEntry.journalist)
            return list(s.scalars(q))

    def failed_logins(self, since_hour: str) -> dict[str, int]:
        """Failed logins since an hour, per name tried (UNKNOWN_NAME for names with no account)."""
        e = ActivityEntry
        q = (
            select(e.journalist, func.sum(e.count))
            .where(e.action == "login_failed", e.hour >= since_hour)
            .group_by(e.journalist)
        )
        with self.sessions() as s:
            return {name: int(n) for name, n in s.execute(q)}

    def purge(self, older_than_days: int, by: str, now: float | None = None) -> int:
        """Delete entries of hours more than `older_than_days` ago, and record that, in one transaction."""
        if older_than_days < 1:
            raise ValueError("older_than_days must be at least 1")
        t = time.time() if now is None else now
        cutoff = hour_of(t - older_than_days * 86400)
        with self.sessions.begin() as s:
            n = s.execute(
                delete(ActivityEntry)
                .where(ActivityEntry.hour < cutoff)
                .execution_options(synchronize_session=False)
            ).rowcount
            _count_one(s, hour_of(t), by, "log_purged", f"entries={n} older_than_days={older_than_days}")
        return n


def _without(detail: str, gone: set[str]) -> str:
    """A detail with each of these short ids, where it names a conversation, replaced by GONE."""
    parts = []
    for part in detail.split(" "):
        label, sep, value = part.partition("=")
        if sep and label in ("conversation", "conversations"):
            more = ""
            if "+" in value:
                value, more = value.split("+", 1)
                more = "+" + more
            ids = [GONE if v in gone else v for v in value.split(",")]
            kept = sorted(v for v in set(ids) if v != GONE)
            value = ",".join(kept + ([GONE] if GONE in ids else [])) + more
        parts.append(f"{label}{sep}{value}" if sep else part)
    return " ".join(parts)


def _count_one(s: Session, hour: str, journalist: str, action: str, detail: str, by: int = 1) -> None:
    """Insert the row with count `by`, or add to it: one statement, so parallel records all count."""
    dialect = s.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # pragma: no cover (Tipline runs on SQLite and PostgreSQL)
        raise RuntimeError(f"the activity log does not support {dialect}")
    row = {"hour": hour, "journalist": journalist, "action": action, "detail": detail, "count": by}
    stmt = insert(ActivityEntry).values(**row)
    s.execute(
        stmt.on_conflict_do_update(
            index_elements=["hour", "journalist", "action", "detail"],
            set_={"count": ActivityEntry.count + by},
        )
    )


def _ensure_table(sessions: sessionmaker[Session]) -> None:
    """Make the table in an accounts database made before the log existed (create_all adds tables only)."""
    engine = sessions.kw["bind"]
    try:
        ActivityEntry.__table__.create(engine, checkfirst=True)
    except DBAPIError:
        # Workers starting together may race to make it; the loser finds it made.
        ActivityEntry.__table__.create(engine, checkfirst=True)
