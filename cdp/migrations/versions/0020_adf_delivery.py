"""adf_delivery: new leads POSTed as ADF to a dealer's own CRM, with their attempts

Revision ID: 0020
Revises: 0014
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cdp.models.base

revision: str = "0020"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dealer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("adf_url", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("adf_since", cdp.models.base.UtcDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "adf_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealer.id"], name=op.f("fk_adf_delivery_dealer_id_dealer")
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["lead.id"], name=op.f("fk_adf_delivery_lead_id_lead")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adf_delivery")),
        sa.UniqueConstraint("lead_id", name=op.f("uq_adf_delivery_lead_id")),
    )
    with op.batch_alter_table("adf_delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_adf_delivery_dealer_id"), ["dealer_id"], unique=False)
        batch_op.create_index(
            "ix_adf_delivery_status_next", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("adf_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_adf_delivery_status_next")
        batch_op.drop_index(batch_op.f("ix_adf_delivery_dealer_id"))
    op.drop_table("adf_delivery")
    with op.batch_alter_table("dealer", schema=None) as batch_op:
        batch_op.drop_column("adf_since")
        batch_op.drop_column("adf_url")
