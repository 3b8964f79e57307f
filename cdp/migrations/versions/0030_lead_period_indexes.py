"""lead_period_indexes: a period's leads by their creation time, and the stage changes that made
a sale, for the network view and the funnel at 500,000 leads (bench/funnel.py)

ix_lead_created_at is made only where it is missing and left in place by the downgrade (the
funnel's indexes, 0032, were written beside it).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 11:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOLD_CHANGE = "to_stage IN ('sold', 'delivered')"


def upgrade() -> None:
    op.create_index("ix_lead_created_at", "lead", ["created_at"], if_not_exists=True)
    op.create_index(
        "ix_lead_stage_change_sold",
        "lead_stage_change",
        ["lead_id"],
        postgresql_where=sa.text(SOLD_CHANGE),
        sqlite_where=sa.text(SOLD_CHANGE),
    )


def downgrade() -> None:
    op.drop_index("ix_lead_stage_change_sold", table_name="lead_stage_change")
