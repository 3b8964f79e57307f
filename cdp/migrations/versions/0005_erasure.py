"""erasure: the record of people erased on request; indexes that make deleting a profile cheap

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cdp.models.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("erased_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("erased_by", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure")),
    )
    with op.batch_alter_table("erasure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erasure_profile_id"), ["profile_id"], unique=False)
    # Deleting a profile checks every foreign key that points at it: these two had no index.
    with op.batch_alter_table("identity_warning", schema=None) as batch_op:
        batch_op.create_index("ix_identity_warning_profile_id", ["profile_id"], unique=False)
        batch_op.create_index(
            "ix_identity_warning_other_profile_id", ["other_profile_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("identity_warning", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_warning_other_profile_id")
        batch_op.drop_index("ix_identity_warning_profile_id")
    with op.batch_alter_table("erasure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_profile_id"))
    op.drop_table("erasure")
