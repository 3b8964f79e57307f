"""funnel_indexes: the funnel reads a period's stage changes (lead_stage_change.changed_at) and
a lead's appointments (appointment.lead_id); a period's leads (lead.created_at) since 0030

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_lead_stage_change_changed_at"), "lead_stage_change", ["changed_at"])
    op.create_index(op.f("ix_appointment_lead_id"), "appointment", ["lead_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_appointment_lead_id"), table_name="appointment")
    op.drop_index(op.f("ix_lead_stage_change_changed_at"), table_name="lead_stage_change")
