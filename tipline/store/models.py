"""The database schema (SQLAlchemy 2.x). It holds no plaintext and no source metadata.

Journalist accounts and sessions live here too: journalists are not
anonymous to the server, sources are.

A submission row has a random id, the hour it arrived (UTC), how it was
sealed, its padded size and which keys it was sealed to. Nothing else: no
address, no user agent, no precise time, no names.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Submission(Base):
    __tablename__ = "submissions"
    # WITHOUT ROWID: SQLite would otherwise number rows in arrival order, and
    # that order is metadata the random ids are meant to hide.
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 (SQLAlchemy's own convention)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    received_hour: Mapped[str] = mapped_column(String(17), index=True)
    sealed_by: Mapped[str] = mapped_column(String(8))
    item_count: Mapped[int] = mapped_column(Integer)
    total_size: Mapped[int] = mapped_column(BigInteger)  # over 2 GiB if an admin raises the limit
    # Space-separated fingerprints (with spaces removed) of the keys it was sealed to.
    sealed_to: Mapped[str] = mapped_column(String(2000))
    # The hour of the first download, for "delete N days after first download".
    first_download_hour: Mapped[str | None] = mapped_column(String(17), default=None)


class Download(Base):
    """Who fetched a submission, and in which hour: the 'downloaded yet, by whom' column."""

    __tablename__ = "downloads"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012

    submission_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    journalist: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[str] = mapped_column(String(17))


class Journalist(Base):
    __tablename__ = "journalists"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    passphrase_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str] = mapped_column(String(64))
    # The last TOTP time step accepted: a code is good once only.
    last_totp_step: Mapped[int] = mapped_column(Integer, default=0)
    # Throttling: failures in the current one-minute window, and when the next try is allowed.
    window_start: Mapped[int] = mapped_column(Integer, default=0)
    window_failures: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[int] = mapped_column(Integer, default=0)


class JournalistSession(Base):
    """A logged-in journalist. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "journalist_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    journalist: Mapped[str] = mapped_column(String(64), ForeignKey("journalists.name", ondelete="CASCADE"))
    created_at: Mapped[int] = mapped_column(Integer)
    last_seen: Mapped[int] = mapped_column(Integer)
