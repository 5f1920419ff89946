"""The journalists' activity log, by the hour (commit b1be186, merged as 295c100).

Revision ID: acc02_activity
Revises: acc01_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "acc02_activity"
down_revision = "acc01_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activity_log",
        sa.Column("hour", sa.String(17), primary_key=True),
        sa.Column("journalist", sa.String(64), primary_key=True),
        sa.Column("action", sa.String(32), primary_key=True),
        sa.Column("detail", sa.String(400), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    raise RuntimeError("Tipline does not downgrade a database: restore the backup made before upgrading.")
