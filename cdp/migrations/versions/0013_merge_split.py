"""merge split: what a merge moved (profile_merge_row) and both profiles' traits before it, so
staff can undo a wrong merge; and the record of the split on the merge

Merges recorded before this revision have rows_recorded false: which rows moved was not kept,
so they cannot be split (docs/identity.md).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-09 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cdp.models.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("profile_merge", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rows_recorded", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column(
                "traits_before",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("split_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("split_by", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("split_reason", sa.Text(), nullable=True))
    op.create_table(
        "profile_merge_row",
        sa.Column("merge_id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(length=40), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merge_id"],
            ["profile_merge.id"],
            name=op.f("fk_profile_merge_row_merge_id_profile_merge"),
        ),
        sa.PrimaryKeyConstraint(
            "merge_id", "table_name", "row_id", name=op.f("pk_profile_merge_row")
        ),
    )


def downgrade() -> None:
    op.drop_table("profile_merge_row")
    with op.batch_alter_table("profile_merge", schema=None) as batch_op:
        batch_op.drop_column("split_reason")
        batch_op.drop_column("split_by")
        batch_op.drop_column("split_at")
        batch_op.drop_column("traits_before")
        batch_op.drop_column("rows_recorded")
