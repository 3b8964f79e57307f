"""segments: clustering runs, segments, memberships, audiences, export log; body type and fuel
of saved configurations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 05:45:38.249867
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cdp.models.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audience",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "rules",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["staff_user.id"],
            name=op.f("fk_audience_created_by_user_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience")),
        sa.UniqueConstraint("name", name=op.f("uq_audience_name")),
    )
    op.create_table(
        "export_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exported_by_user_id", sa.Integer(), nullable=True),
        sa.Column("exported_by", sa.String(length=200), nullable=False),
        sa.Column("what", sa.String(length=300), nullable=False),
        sa.Column(
            "rules",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("exported_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["exported_by_user_id"],
            ["staff_user.id"],
            name=op.f("fk_export_log_exported_by_user_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_log")),
    )
    op.create_table(
        "segment_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("stage", sa.String(length=100), nullable=True),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "quality",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("profiles", sa.Integer(), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["staff_user.id"],
            name=op.f("fk_segment_run_created_by_user_id_staff_user"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_run")),
    )
    op.create_table(
        "segment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("custom_name", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column(
            "profile",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "summary",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["segment_run.id"], name=op.f("fk_segment_run_id_segment_run")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment")),
        sa.UniqueConstraint("run_id", "number", name=op.f("uq_segment_run_id")),
    )
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_segment_run_id"), ["run_id"], unique=False)

    op.create_table(
        "segment_membership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"], ["profile.id"], name=op.f("fk_segment_membership_profile_id_profile")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["segment_run.id"], name=op.f("fk_segment_membership_run_id_segment_run")
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"], ["segment.id"], name=op.f("fk_segment_membership_segment_id_segment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_membership")),
        sa.UniqueConstraint("run_id", "profile_id", name=op.f("uq_segment_membership_run_id")),
    )
    with op.batch_alter_table("segment_membership", schema=None) as batch_op:
        batch_op.create_index("ix_segment_membership_profile", ["profile_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_segment_membership_segment_id"), ["segment_id"], unique=False
        )

    with op.batch_alter_table("configuration", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_type", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("fuel", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("configuration", schema=None) as batch_op:
        batch_op.drop_column("fuel")
        batch_op.drop_column("body_type")

    with op.batch_alter_table("segment_membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segment_membership_segment_id"))
        batch_op.drop_index("ix_segment_membership_profile")

    op.drop_table("segment_membership")
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segment_run_id"))

    op.drop_table("segment")
    op.drop_table("segment_run")
    op.drop_table("export_log")
    op.drop_table("audience")
