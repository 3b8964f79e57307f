"""showroom_visit: the showroom floor's traffic log (appointments arrived, walk-ins, be-backs)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cdp.models.base

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "showroom_visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=True),
        sa.Column("visitor_name", sa.String(length=200), nullable=True),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("salesperson_user_id", sa.Integer(), nullable=True),
        sa.Column("checked_in_by_user_id", sa.Integer(), nullable=True),
        sa.Column("arrived_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column(
            "started_with_salesperson_at", cdp.models.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("ended_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_by_user_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealer.id"], name=op.f("fk_showroom_visit_dealer_id_dealer")
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_showroom_visit_profile_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"], ["appointment.id"],
            name=op.f("fk_showroom_visit_appointment_id_appointment"),
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["lead.id"], name=op.f("fk_showroom_visit_lead_id_lead")
        ),
        sa.ForeignKeyConstraint(
            ["salesperson_user_id"], ["staff_user.id"],
            name=op.f("fk_showroom_visit_salesperson_user_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["checked_in_by_user_id"], ["staff_user.id"],
            name=op.f("fk_showroom_visit_checked_in_by_user_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["ended_by_user_id"], ["staff_user.id"],
            name=op.f("fk_showroom_visit_ended_by_user_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_showroom_visit")),
        sa.UniqueConstraint("appointment_id", name=op.f("uq_showroom_visit_appointment_id")),
    )  # fmt: skip
    with op.batch_alter_table("showroom_visit", schema=None) as batch_op:
        batch_op.create_index(
            "ix_showroom_visit_dealer_arrived", ["dealer_id", "arrived_at"], unique=False
        )
        batch_op.create_index(
            "ix_showroom_visit_salesperson_started",
            ["salesperson_user_id", "started_with_salesperson_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_showroom_visit_profile_id"), ["profile_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_showroom_visit_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_showroom_visit_ended_at"), ["ended_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("showroom_visit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_showroom_visit_ended_at"))
        batch_op.drop_index(batch_op.f("ix_showroom_visit_lead_id"))
        batch_op.drop_index(batch_op.f("ix_showroom_visit_profile_id"))
        batch_op.drop_index("ix_showroom_visit_salesperson_started")
        batch_op.drop_index("ix_showroom_visit_dealer_arrived")
    op.drop_table("showroom_visit")
