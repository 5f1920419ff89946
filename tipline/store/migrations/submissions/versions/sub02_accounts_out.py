"""The accounts leave the submissions database (commit b4d422f), where the source app could read them.

`tipline upgrade` first copies the journalists into the accounts database, their
TOTP secrets sealed (tipline/store/legacy_accounts.py), and says so here
through the connection's info; a table that still holds journalists is never
dropped otherwise. Sessions are not kept: each journalist logs in again.

Revision ID: sub02_accounts_out
Revises: sub01_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "sub02_accounts_out"
down_revision = "sub01_initial"
branch_labels = None
depends_on = None

MOVED = "tipline_legacy_accounts_moved"


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    if "journalists" not in present:
        return
    rows = bind.execute(sa.text("SELECT COUNT(*) FROM journalists")).scalar_one()
    if rows and not bind.info.get(MOVED):
        raise RuntimeError(
            "The submissions database still holds journalist accounts that are not in the accounts "
            "database: run `tipline upgrade`, which moves them, not alembic directly."
        )
    if "journalist_sessions" in present:
        op.drop_table("journalist_sessions")
    op.drop_table("journalists")


def downgrade() -> None:
    raise RuntimeError("Tipline does not downgrade a database: restore the backup made before upgrading.")
