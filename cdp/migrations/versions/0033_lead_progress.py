"""lead_progress: each lead's progress along the funnel kept on the lead (furthest step, when
it first reached each step, speed to first contact, attempts until reached, time to sale), and
filled from the history of the leads already stored (cdp/leads/progress.py)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cdp.leads.progress import refresh_all
from cdp.models.base import UtcDateTime

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STEP_COLUMNS = (
    "step_reached_at",
    "step_appointment_at",
    "step_show_at",
    "step_test_drive_at",
    "step_quote_at",
    "step_sold_at",
    "last_step_at",
)


def upgrade() -> None:
    op.add_column(
        "lead", sa.Column("furthest_step", sa.SmallInteger(), nullable=False, server_default="0")
    )
    for name in _STEP_COLUMNS:
        op.add_column("lead", sa.Column(name, UtcDateTime(), nullable=True))
    op.add_column("lead", sa.Column("first_contact_s", sa.Double(), nullable=True))
    op.add_column("lead", sa.Column("attempts_to_reach", sa.SmallInteger(), nullable=True))
    op.add_column("lead", sa.Column("sold_after_s", sa.Double(), nullable=True))
    # The history as it stands: the lead's rows are read through the models of this revision.
    refresh_all(op.get_bind())
    op.create_index(op.f("ix_lead_step_sold_at"), "lead", ["step_sold_at"])
    op.create_index(op.f("ix_lead_last_step_at"), "lead", ["last_step_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_lead_last_step_at"), table_name="lead")
    op.drop_index(op.f("ix_lead_step_sold_at"), table_name="lead")
    for name in ("sold_after_s", "attempts_to_reach", "first_contact_s", *reversed(_STEP_COLUMNS)):
        op.drop_column("lead", name)
    op.drop_column("lead", "furthest_step")
