"""The database schema (SQLAlchemy 2.x). It holds no plaintext and no source metadata.

A submission row has a random id, the hour it arrived (UTC), how it was
sealed, its padded size and which keys it was sealed to. Nothing else: no
address, no user agent, no precise time, no names.
"""

from __future__ import annotations

from sqlalchemy import Integer, String
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
    total_size: Mapped[int] = mapped_column(Integer)
    # Space-separated fingerprints (with spaces removed) of the keys it was sealed to.
    sealed_to: Mapped[str] = mapped_column(String(2000))
