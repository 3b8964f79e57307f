"""lead_routing: every lead's assignments (lead_assignment), salespeople's availability, each
dealer's speed-to-lead settings, and a lead's SLA warning and breach

Existing salespeople start available; existing dealers get the default SLA (first contact within
30 opening-hours minutes, the manager warned after 15). Existing leads have no assignment history.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cdp.models.base

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lead_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=True),
        sa.Column("from_user_id", sa.Integer(), nullable=True),
        sa.Column("to_user_id", sa.Integer(), nullable=True),
        sa.Column("by_user_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("warning", sa.Text(), nullable=True),
        sa.Column("assigned_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["lead.id"], name=op.f("fk_lead_assignment_lead_id_lead")
        ),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealer.id"], name=op.f("fk_lead_assignment_dealer_id_dealer")
        ),
        sa.ForeignKeyConstraint(
            ["from_user_id"],
            ["staff_user.id"],
            name=op.f("fk_lead_assignment_from_user_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["to_user_id"], ["staff_user.id"], name=op.f("fk_lead_assignment_to_user_id_staff_user")
        ),
        sa.ForeignKeyConstraint(
            ["by_user_id"], ["staff_user.id"], name=op.f("fk_lead_assignment_by_user_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_assignment")),
    )
    with op.batch_alter_table("lead_assignment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lead_assignment_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(
            "ix_lead_assignment_to_user_at", ["to_user_id", "assigned_at"], unique=False
        )
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sla_warned_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("sla_breached_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "availability", sa.String(length=10), server_default="available", nullable=False
            )
        )
    with op.batch_alter_table("dealer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "sla_first_contact_minutes", sa.Integer(), server_default="30", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("sla_warning_minutes", sa.Integer(), server_default="15", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("dealer", schema=None) as batch_op:
        batch_op.drop_column("sla_warning_minutes")
        batch_op.drop_column("sla_first_contact_minutes")
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.drop_column("availability")
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_column("sla_breached_at")
        batch_op.drop_column("sla_warned_at")
    with op.batch_alter_table("lead_assignment", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_assignment_to_user_at")
        batch_op.drop_index(batch_op.f("ix_lead_assignment_lead_id"))
    op.drop_table("lead_assignment")
