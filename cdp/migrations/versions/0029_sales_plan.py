"""sales_plan: the planner's saved plans (a quarter's target for a dealer or the network) and
their lines (leads and sales per month and channel)

Revision ID: 0029
Revises: 0027
Create Date: 2026-12-07 10:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cdp.models.base

revision: str = "0029"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sales_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("quarter", sa.SmallInteger(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("basis", sa.String(length=10), nullable=False),
        sa.Column("target_new", sa.Integer(), nullable=False),
        sa.Column("target_used", sa.Integer(), nullable=False),
        sa.Column(
            "mix",
            sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "rates",
            sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("seasonality", sa.String(length=20), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["staff_user.id"],
            name=op.f("fk_sales_plan_created_by_user_id_staff_user"),
        ),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealer.id"], name=op.f("fk_sales_plan_dealer_id_dealer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_plan")),
    )
    op.create_index(op.f("ix_sales_plan_dealer_id"), "sales_plan", ["dealer_id"], unique=False)
    op.create_table(
        "sales_plan_line",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.SmallInteger(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("leads", sa.Integer(), nullable=False),
        sa.Column("sales", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["sales_plan.id"], name=op.f("fk_sales_plan_line_plan_id_sales_plan")
        ),
        sa.PrimaryKeyConstraint("plan_id", "month", "channel", name=op.f("pk_sales_plan_line")),
    )


def downgrade() -> None:
    op.drop_table("sales_plan_line")
    op.drop_index(op.f("ix_sales_plan_dealer_id"), table_name="sales_plan")
    op.drop_table("sales_plan")
