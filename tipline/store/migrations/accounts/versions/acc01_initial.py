"""The accounts database as commit b4d422f made it: journalists (TOTP sealed), sessions, login throttle.

Revision ID: acc01_initial
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "acc01_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journalists",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("passphrase_hash", sa.String(200), nullable=False),
        sa.Column("totp_secret", sa.String(200), nullable=False),
        sa.Column("last_totp_step", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "journalist_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "journalist", sa.String(64), sa.ForeignKey("journalists.name", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "login_throttle",
        sa.Column("name_tag", sa.String(64), primary_key=True),
        sa.Column("short_tat", sa.BigInteger, nullable=False),
        sa.Column("long_tat", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_login_throttle_long_tat", "login_throttle", ["long_tat"])


def downgrade() -> None:
    raise RuntimeError("Tipline does not downgrade a database: restore the backup made before upgrading.")
