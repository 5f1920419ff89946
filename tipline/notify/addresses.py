"""Each journalist's own address for notifications: a table of its own in the accounts database.

A new table, not a column on journalists, because create_all adds tables to
an existing installation but never columns. Removing a journalist removes
their address with them (ON DELETE CASCADE). No Flask here: the journalist
app's settings page and `tipline notify address` both call NotifyAddresses.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from tipline.store.models import AccountsBase, Journalist

from .settings import check_address


class NoSuchJournalist(Exception):
    """The name is not an account's."""


class NotifyAddress(AccountsBase):
    __tablename__ = "notify_addresses"

    journalist: Mapped[str] = mapped_column(
        String(64), ForeignKey("journalists.name", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str] = mapped_column(String(254))


class NotifyAddresses:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        # An accounts database made before this table existed gets it now (tables only, no migration).
        bind = sessions.kw["bind"]
        NotifyAddress.__table__.create(bind, checkfirst=True)  # type: ignore[attr-defined]

    def get(self, journalist: str) -> str:
        with self.sessions() as s:
            row = s.get(NotifyAddress, journalist)
            return row.email if row else ""

    def set(self, journalist: str, email: str) -> str:
        """Set (or replace) the journalist's address; raises NotifyConfigError for a malformed one."""
        email = check_address(email)
        with self.sessions.begin() as s:
            if s.get(Journalist, journalist) is None:
                raise NoSuchJournalist(f"No journalist named {journalist}.")
            row = s.get(NotifyAddress, journalist)
            if row is None:
                s.add(NotifyAddress(journalist=journalist, email=email))
            else:
                row.email = email
        return email

    def clear(self, journalist: str) -> None:
        with self.sessions.begin() as s:
            if s.get(Journalist, journalist) is None:
                raise NoSuchJournalist(f"No journalist named {journalist}.")
            s.execute(delete(NotifyAddress).where(NotifyAddress.journalist == journalist))

    def all(self) -> dict[str, str]:
        """Every journalist's address, by name."""
        with self.sessions() as s:
            rows = s.execute(select(NotifyAddress.journalist, NotifyAddress.email))
            return {name: email for name, email in rows}
