"""alert: what each staff member is told live (lead assigned, customer back, test drive,
check-in, SLA warning), kept until read

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 07:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cdp.models.base

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("read_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealer.id"], name=op.f("fk_alert_dealer_id_dealer")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_user.id"], name=op.f("fk_alert_user_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
    )  # fmt: skip
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index("ix_alert_user_read_id", ["user_id", "read_at", "id"], unique=False)
        batch_op.create_index(
            "ix_alert_profile_user_kind", ["profile_id", "user_id", "kind"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_profile_user_kind")
        batch_op.drop_index("ix_alert_user_read_id")
    op.drop_table("alert")
