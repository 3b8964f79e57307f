"""lead_sla_due: each lead's speed-to-lead due time, in seconds from its arrival

Worked out from the dealer's SLA minutes and opening hours (cdp/leads/sla_due.py) for every lead
stored before; kept from then on when a lead is stored or moves to another dealer.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("lead", sa.Column("sla_due_s", sa.Double(), nullable=True))
    # The rules in code (opening hours, public holidays): the same as for a lead stored now.
    from cdp.leads.sla_due import fill

    fill(op.get_bind())


def downgrade() -> None:
    op.drop_column("lead", "sla_due_s")
