"""spend: marketing spend per month, channel, campaign and dealer (spend_entry), and the margin
a sale earns, the network's and a dealer's own (sale_margin)

Both start empty: without spend there is no cost to show, without a margin no return.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cdp.models.base

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spend_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("campaign", sa.String(length=200), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealer.id"], name=op.f("fk_spend_entry_dealer_id_dealer")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["staff_user.id"],
            name=op.f("fk_spend_entry_created_by_user_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_user_id"],
            ["staff_user.id"],
            name=op.f("fk_spend_entry_updated_by_user_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_entry")),
        sa.UniqueConstraint(
            "month", "channel", "campaign", "dealer_id", name=op.f("uq_spend_entry_month")
        ),
    )
    op.create_index(op.f("ix_spend_entry_month"), "spend_entry", ["month"], unique=False)
    op.create_index(op.f("ix_spend_entry_dealer_id"), "spend_entry", ["dealer_id"], unique=False)
    op.create_table(
        "sale_margin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("updated_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealer.id"], name=op.f("fk_sale_margin_dealer_id_dealer")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_user_id"],
            ["staff_user.id"],
            name=op.f("fk_sale_margin_updated_by_user_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sale_margin")),
        sa.UniqueConstraint("dealer_id", name=op.f("uq_sale_margin_dealer_id")),
    )


def downgrade() -> None:
    op.drop_table("sale_margin")
    op.drop_index(op.f("ix_spend_entry_dealer_id"), table_name="spend_entry")
    op.drop_index(op.f("ix_spend_entry_month"), table_name="spend_entry")
    op.drop_table("spend_entry")
