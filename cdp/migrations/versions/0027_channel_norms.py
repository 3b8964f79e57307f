"""channel_norms: the importer's names for lead channels (channel_setting) and its norms per
channel and funnel step (stage_norm)

Both start empty: the built-in names and norms apply until someone changes one.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 10:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cdp.models.base

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_setting",
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=60), nullable=True),
        sa.Column("offered", sa.Boolean(), nullable=False),
        sa.Column("updated_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_user_id"],
            ["staff_user.id"],
            name=op.f("fk_channel_setting_updated_by_user_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channel_setting")),
    )
    op.create_table(
        "stage_norm",
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("share", sa.Numeric(precision=5, scale=4), nullable=True),
        sa.Column("updated_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_user_id"],
            ["staff_user.id"],
            name=op.f("fk_stage_norm_updated_by_user_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("channel", "step", name=op.f("pk_stage_norm")),
    )


def downgrade() -> None:
    op.drop_table("stage_norm")
    op.drop_table("channel_setting")
