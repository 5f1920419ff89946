"""Each conversation's status in the newsroom, its star, and who has seen it (docs/newsroom-workflow.md).

Shared by the newsroom and never shown to the source. A conversation with no
row is new, unstarred and seen by nobody, so conversations older than these
tables need nothing. Every write is an upsert or a conditional UPDATE, one
statement each, so journalists acting at once leave one row and no error on
SQLite and PostgreSQL alike. Times are hours. No Flask here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tipline.textmark import J_

from .models import Conversation, ConversationSeen, ConversationStatus
from .submissions import IntakeError, current_hour

ID = re.compile(r"[A-Za-z0-9_-]{1,32}")  # secrets.token_urlsafe(16), with room
STATUSES = ("new", "read", "replied", "in_progress", "done")
# The one mapping from a status to its name on the pages (translated there): whole words.
LABELS = {
    "new": J_("New"),
    "read": J_("Read"),
    "replied": J_("Replied"),
    "in_progress": J_("In progress"),
    "done": J_("Done"),
}
# What a follow-up from the source reopens: someone must look again. "in_progress" stays.
REOPENED_BY_FOLLOW_UP = ("read", "replied", "done")
MOVED_BY_REPLY = ("new", "read")


class UnknownStatus(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            J_("That is not a status a conversation can have. Nothing was changed: choose one from the list.")
        )


class BadStar(IntakeError):
    def __init__(self) -> None:
        super().__init__(
            J_("A star can only be added or removed. Nothing was changed: use the button on the page.")
        )


class UnknownConversation(IntakeError):
    def __init__(self) -> None:
        super().__init__(J_("This conversation no longer exists. Nothing was changed."))


@dataclass(frozen=True)
class Seen:
    hour: str
    current: bool  # False once the conversation had activity after this look


@dataclass(frozen=True)
class Status:
    status: str = "new"
    starred: bool = False
    starred_by: str | None = None
    changed_hour: str | None = None
    changed_by: str | None = None  # None with an hour: moved back to new by a follow-up
    seen: Mapping[str, Seen] = field(default_factory=dict)

    def news_for(self, journalist: str) -> bool:
        """Whether there is activity this journalist has not seen (or they never opened it)."""
        seen = self.seen.get(journalist)
        return seen is None or not seen.current


def _insert(s: Session, table) -> Insert:
    """INSERT with ON CONFLICT, in the dialect of the database behind this session."""
    dialect = s.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise NotImplementedError(f"conversation status needs SQLite or PostgreSQL, not {dialect}")


def _upsert_status(s: Session, cid: str, values: dict, only_from: tuple[str, ...] | None = None) -> None:
    """Insert the row as `values` over a new conversation's defaults, or update those columns.

    With `only_from` (which holds "new", as a missing row is new), an
    existing row changes only if its status is one of those.
    """
    table = ConversationStatus.__table__
    row = {"conversation_id": cid, "status": "new", "starred": False, **values}
    ins = _insert(s, table).values(**row)
    where = None if only_from is None else table.c.status.in_(only_from)
    s.execute(
        ins.on_conflict_do_update(
            index_elements=[table.c.conversation_id],
            set_={k: ins.excluded[k] for k in values},
            where=where,
        )
    )


def after_follow_up(s: Session, cid: str, hour: str) -> None:
    """In the follow-up's own transaction: read, replied and done become new; nobody has seen it since."""
    s.execute(
        update(ConversationStatus)
        .where(
            ConversationStatus.conversation_id == cid, ConversationStatus.status.in_(REOPENED_BY_FOLLOW_UP)
        )
        .values(status="new", changed_hour=hour, changed_by=None)
    )
    s.execute(update(ConversationSeen).where(ConversationSeen.conversation_id == cid).values(current=False))


def after_reply(s: Session, cid: str, journalist: str, hour: str) -> None:
    """In the reply's own transaction: new and read become replied; the others have not seen the reply."""
    _upsert_status(
        s, cid, {"status": "replied", "changed_hour": hour, "changed_by": journalist}, MOVED_BY_REPLY
    )
    s.execute(
        update(ConversationSeen)
        .where(ConversationSeen.conversation_id == cid, ConversationSeen.journalist != journalist)
        .values(current=False)
    )


def _check_id(cid: str) -> None:
    """An id from an address is a conversation's only if it has the shape of one (a NUL byte, say,
    would make PostgreSQL fail the query instead of finding nothing)."""
    if not isinstance(cid, str) or not ID.fullmatch(cid):
        raise UnknownConversation


class StatusStore:
    """Status, star and who has seen each conversation, on the submissions database's sessions."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def get(self, cid: str) -> Status:
        return self.for_list([cid])[cid]

    def for_list(self, cids: Iterable[str]) -> dict[str, Status]:
        """Every conversation's status, in one query (a seen row always comes with its status row)."""
        ids = list(dict.fromkeys(cids))
        rows: dict[str, ConversationStatus] = {}
        seen: dict[str, dict[str, Seen]] = {}
        if ids:
            with self.sessions() as s:
                query = (
                    select(ConversationStatus, ConversationSeen)
                    .outerjoin(
                        ConversationSeen,
                        ConversationSeen.conversation_id == ConversationStatus.conversation_id,
                    )
                    .where(ConversationStatus.conversation_id.in_(ids))
                )
                for st, look in s.execute(query):
                    rows[st.conversation_id] = st
                    if look is not None:
                        seen.setdefault(st.conversation_id, {})[look.journalist] = Seen(
                            look.hour, look.current
                        )
        out = {}
        for cid in ids:
            st = rows.get(cid)
            out[cid] = (
                Status(seen=seen.get(cid, {}))
                if st is None
                else Status(
                    st.status, st.starred, st.starred_by, st.changed_hour, st.changed_by, seen.get(cid, {})
                )
            )
        return out

    def _write(self, cid: str, work) -> None:
        """`work(session)` in one transaction on an existing conversation; else UnknownConversation."""
        _check_id(cid)
        try:
            with self.sessions.begin() as s:
                if s.get(Conversation, cid) is None:
                    raise UnknownConversation
                work(s)
        except IntegrityError:  # deleted between the check and the write: its key is gone
            raise UnknownConversation from None

    def set_status(self, cid: str, status: str, by: str) -> None:
        if status not in STATUSES:
            raise UnknownStatus
        hour = current_hour()[0]
        self._write(
            cid, lambda s: _upsert_status(s, cid, {"status": status, "changed_hour": hour, "changed_by": by})
        )

    def set_star(self, cid: str, starred: bool, by: str) -> None:
        if not isinstance(starred, bool):
            raise BadStar
        self._write(
            cid, lambda s: _upsert_status(s, cid, {"starred": starred, "starred_by": by if starred else None})
        )

    def mark_seen(self, cid: str, journalist: str) -> None:
        """Opening the conversation: seen by this journalist this hour; new becomes read if they had news.

        Only a journalist who had not seen its latest activity moves it from
        new to read, so one who sets "new" by hand keeps it when the page comes
        back. Nothing is written when nothing would change (a reload this hour).
        """
        hour = current_hour()[0]
        _check_id(cid)
        with self.sessions() as s:
            if s.get(Conversation, cid) is None:
                raise UnknownConversation
            look = s.get(ConversationSeen, (cid, journalist))
            fresh = look is not None and look.current
            if fresh and look.hour == hour:
                return

        def work(s: Session) -> None:
            # A first look always writes the status row too: for_list finds seen rows through it.
            if not fresh:
                _upsert_status(
                    s, cid, {"status": "read", "changed_hour": hour, "changed_by": journalist}, ("new",)
                )
            ins = _insert(s, ConversationSeen.__table__).values(
                conversation_id=cid, journalist=journalist, hour=hour, current=True
            )
            s.execute(
                ins.on_conflict_do_update(
                    index_elements=["conversation_id", "journalist"],
                    set_={"hour": ins.excluded.hour, "current": True},
                )
            )

        self._write(cid, work)
