"""drop_unused_sold_change_index: lead_stage_change's partial index of sales (0030) goes

The network view asked it whether each lead of a period was ever sold; each lead now carries
that (its furthest step, cdp/leads/progress.py), and no query reads the index any more. Every
stage change paid for keeping it.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOLD_CHANGE = "to_stage IN ('sold', 'delivered')"


def upgrade() -> None:
    op.drop_index("ix_lead_stage_change_sold", table_name="lead_stage_change")


def downgrade() -> None:
    op.create_index(
        "ix_lead_stage_change_sold",
        "lead_stage_change",
        ["lead_id"],
        postgresql_where=sa.text(SOLD_CHANGE),
        sqlite_where=sa.text(SOLD_CHANGE),
    )
