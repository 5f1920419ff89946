"""Each journalist's own notification address (commit d438de4, merged before the activity log).

Until schema migrations, tipline/notify/addresses.py made this table on first use,
so an install from before migrations may hold it already, or not: made only if missing.

Revision ID: acc03_notify_addresses
Revises: acc02_activity
"""

import sqlalchemy as sa
from alembic import op

revision = "acc03_notify_addresses"
down_revision = "acc02_activity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("notify_addresses"):
        return
    op.create_table(
        "notify_addresses",
        sa.Column(
            "journalist",
            sa.String(64),
            sa.ForeignKey("journalists.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("email", sa.String(254), nullable=False),
    )


def downgrade() -> None:
    raise RuntimeError("Tipline does not downgrade a database: restore the backup made before upgrading.")
