"""The submissions database as commit 4fd8b02 made it: tips, downloads, and (then) the accounts.

Revision ID: sub01_initial
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "sub01_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # WITHOUT ROWID: SQLite would otherwise number rows in arrival order (models.py).
    op.create_table(
        "submissions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("received_hour", sa.String(17), nullable=False),
        sa.Column("sealed_by", sa.String(8), nullable=False),
        sa.Column("item_count", sa.Integer, nullable=False),
        sa.Column("total_size", sa.BigInteger, nullable=False),
        sa.Column("sealed_to", sa.String(2000), nullable=False),
        sa.Column("first_download_hour", sa.String(17)),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_submissions_received_hour", "submissions", ["received_hour"])
    op.create_table(
        "downloads",
        sa.Column(
            "submission_id",
            sa.String(32),
            sa.ForeignKey("submissions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("journalist", sa.String(64), primary_key=True),
        sa.Column("hour", sa.String(17), nullable=False),
        sqlite_with_rowid=False,
    )
    # Moved to the accounts database by sub02_accounts_out.
    op.create_table(
        "journalists",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("passphrase_hash", sa.String(200), nullable=False),
        sa.Column("totp_secret", sa.String(64), nullable=False),
        sa.Column("last_totp_step", sa.Integer, nullable=False),
        sa.Column("window_start", sa.Integer, nullable=False),
        sa.Column("window_failures", sa.Integer, nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("next_try_at", sa.Integer, nullable=False),
    )
    op.create_table(
        "journalist_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "journalist", sa.String(64), sa.ForeignKey("journalists.name", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", sa.Integer, nullable=False),
        sa.Column("last_seen", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    raise RuntimeError("Tipline does not downgrade a database: restore the backup made before upgrading.")
