"""Conversations and replies (commit faab7c7), and each tip's conversation.

Until this revision, db.py added the column by hand (_add_conversation_column).

Revision ID: sub03_conversations
Revises: sub02_accounts_out
"""

import sqlalchemy as sa
from alembic import op

revision = "sub03_conversations"
down_revision = "sub02_accounts_out"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("source_public_key", sa.String(64), nullable=False),
        sa.Column("verifier_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("kdf_version", sa.Integer, nullable=False),
        sa.Column("created_hour", sa.String(17), nullable=False),
        sa.Column("last_activity_hour", sa.String(17), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_conversations_last_activity_hour", "conversations", ["last_activity_hour"])
    op.create_table(
        "replies",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("hour", sa.String(17), nullable=False),
        sa.Column("journalist", sa.String(64), nullable=False),
        sa.Column("sealed_by", sa.String(8), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("deleted_by_source", sa.Boolean, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_replies_conversation_id", "replies", ["conversation_id"])
    # Nullable with no default: added in place. Alembic cannot add a constraint on SQLite, whose
    # ALTER TABLE can add a column with its REFERENCES: there, the statement db.py used to run.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE submissions ADD COLUMN conversation_id VARCHAR(32) REFERENCES conversations(id)"
        )
    else:
        op.add_column(
            "submissions",
            sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=True),
        )
    op.create_index("ix_submissions_conversation_id", "submissions", ["conversation_id"])


def downgrade() -> None:
    raise RuntimeError("Tipline does not downgrade a database: restore the backup made before upgrading.")
