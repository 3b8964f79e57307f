"""lead_not_a_lead_indexes: the leads that are no leads (invalid, duplicate) by creation time
and by sale time, so the funnel's monthly trend counts a year of leads from the indexes alone
(every lead of a month, less these) instead of reading each lead's stage from the table

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_A_LEAD = "stage IN ('invalid', 'duplicate')"
COLUMNS = ("created_at", "step_sold_at")


def upgrade() -> None:
    for column in COLUMNS:
        op.create_index(
            f"ix_lead_not_a_lead_{column}",
            "lead",
            [column],
            postgresql_where=sa.text(NOT_A_LEAD),
            sqlite_where=sa.text(NOT_A_LEAD),
        )


def downgrade() -> None:
    for column in reversed(COLUMNS):
        op.drop_index(f"ix_lead_not_a_lead_{column}", table_name="lead")
