"""The newsroom's status, star and who has seen each conversation (commit 2a0f9cc, merged as d6ad903).

Revision ID: sub04_status
Revises: sub03_conversations
"""

import sqlalchemy as sa
from alembic import op

revision = "sub04_status"
down_revision = "sub03_conversations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_status",
        sa.Column(
            "conversation_id",
            sa.String(32),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("starred", sa.Boolean, nullable=False),
        sa.Column("starred_by", sa.String(64)),
        sa.Column("changed_hour", sa.String(17)),
        sa.Column("changed_by", sa.String(64)),
        sa.CheckConstraint(
            "status in ('new', 'read', 'replied', 'in_progress', 'done')", name="known_status"
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "conversation_seen",
        sa.Column(
            "conversation_id",
            sa.String(32),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("journalist", sa.String(64), primary_key=True),
        sa.Column("hour", sa.String(17), nullable=False),
        sa.Column("current", sa.Boolean, nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    raise RuntimeError("Tipline does not downgrade a database: restore the backup made before upgrading.")
