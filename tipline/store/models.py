"""The two database schemas (SQLAlchemy 2.x): submissions, and journalist accounts.

Two metadata objects for two databases. `Base` is the submissions
database, which both apps share: it holds no plaintext, no source metadata
and no accounts. `AccountsBase` is the accounts database, which only the
journalist app and the admin's CLI open (DATA_DIR/journalist/accounts.db
by default): the source app has no table of it, so code running in the
source app finds no journalist credentials to read.

A submission row has a random id, the hour it arrived (UTC), how it was
sealed, its padded size and which keys it was sealed to. Nothing else: no
address, no user agent, no precise time, no names. A conversation
(docs/conversations.md "What the server stores") adds the source's public
key, the verifier's hash and hours; its replies are envelopes like tips.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String
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
    # A tip sent without a codename has none. Deleting a conversation deletes its tips first.
    conversation_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("conversations.id"), default=None, index=True
    )


class Conversation(Base):
    """A source's thread: random id, public key, verifier hash, hours. Nothing leads back to the codename."""

    __tablename__ = "conversations"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # secrets, not derived from the codename
    source_public_key: Mapped[str] = mapped_column(String(64))  # hex of the X25519 key replies are sealed to
    verifier_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex; finds it at login
    kdf_version: Mapped[int] = mapped_column(Integer)
    created_hour: Mapped[str] = mapped_column(String(17))
    # The newest hour of its tips and replies: the journalists' list puts it first. Never a login.
    last_activity_hour: Mapped[str] = mapped_column(String(17), index=True)


class Reply(Base):
    """The newsroom's envelope to the source (and to its own keys); the file is in store/replies/<id>/."""

    __tablename__ = "replies"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(32), ForeignKey("conversations.id"), index=True)
    hour: Mapped[str] = mapped_column(String(17))
    journalist: Mapped[str] = mapped_column(String(64))
    sealed_by: Mapped[str] = mapped_column(String(8))  # browser, server or offline
    size: Mapped[int] = mapped_column(BigInteger)
    # The source deleted it: the file is gone, the row stays so the newsroom sees that (no hour kept).
    deleted_by_source: Mapped[bool] = mapped_column(Boolean, default=False)


class Download(Base):
    """Who fetched a submission, and in which hour: the 'downloaded yet, by whom' column."""

    __tablename__ = "downloads"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012

    submission_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    journalist: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[str] = mapped_column(String(17))


class ConversationStatus(Base):
    """The newsroom's status and star of a conversation (tipline/store/status.py). No row: new, no star.

    A table of its own, not columns of `conversations`: `create_all` adds tables
    to an existing database, never columns. The source never sees any of it.
    """

    __tablename__ = "conversation_status"
    __table_args__ = (
        CheckConstraint("status in ('new', 'read', 'replied', 'in_progress', 'done')", name="known_status"),
        {"sqlite_with_rowid": False},
    )

    conversation_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16))
    starred: Mapped[bool] = mapped_column(Boolean, default=False)
    starred_by: Mapped[str | None] = mapped_column(String(64), default=None)
    # Who set the status, and in which hour; None: moved back to new by the source's follow-up.
    changed_hour: Mapped[str | None] = mapped_column(String(17), default=None)
    changed_by: Mapped[str | None] = mapped_column(String(64), default=None)


class ConversationSeen(Base):
    """A journalist opened the conversation in this hour; `current` until it has activity again."""

    __tablename__ = "conversation_seen"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012

    conversation_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    journalist: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[str] = mapped_column(String(17))
    current: Mapped[bool] = mapped_column(Boolean, default=True)


class AccountsBase(DeclarativeBase):
    pass


class Journalist(AccountsBase):
    __tablename__ = "journalists"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    passphrase_hash: Mapped[str] = mapped_column(String(200))
    # Sealed, never in clear: base64 of nonce || AES-GCM ciphertext (tipline/store/account_key.py).
    totp_secret: Mapped[str] = mapped_column(String(200))
    # The last TOTP time step accepted: a code is good once only (a conditional UPDATE decides).
    last_totp_step: Mapped[int] = mapped_column(BigInteger, default=0)


class JournalistSession(AccountsBase):
    """A logged-in journalist. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "journalist_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    journalist: Mapped[str] = mapped_column(String(64), ForeignKey("journalists.name", ondelete="CASCADE"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_seen: Mapped[int] = mapped_column(BigInteger)


class LoginThrottle(AccountsBase):
    """Login attempts allowed per name tried (tipline/store/throttle.py), keyed by an HMAC of the name.

    Names that do not exist get rows exactly like names that do, so the
    answers cannot tell them apart; a row is deleted once it has fully
    recovered, so a flood of made-up names cannot grow the table for long.
    """

    __tablename__ = "login_throttle"

    name_tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    # GCRA "theoretical arrival times", in milliseconds, of the short and the long bucket.
    short_tat: Mapped[int] = mapped_column(BigInteger)
    long_tat: Mapped[int] = mapped_column(BigInteger, index=True)
