"""erasure suppression: the installation's secret key (its first version generated here), the
keyed hashes of erased people's identifiers, and the per-source, per-day count of the messages
dropped because of them

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 10:00:00.000000
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import cdp.models.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    secret_key = op.create_table(
        "secret_key",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_secret_key")),
    )
    # Generated here, once per database, so every worker reads the same key from the start.
    op.bulk_insert(
        secret_key,
        [{"version": 1, "secret": secrets.token_hex(32), "created_at": datetime.now(UTC)}],
    )
    op.create_table(
        "suppression",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("erasure_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("erased_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", cdp.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=320), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["erasure_id"], ["erasure.id"], name=op.f("fk_suppression_erasure_id_erasure")
        ),
        sa.ForeignKeyConstraint(
            ["key_version"],
            ["secret_key.version"],
            name=op.f("fk_suppression_key_version_secret_key"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppression")),
        sa.UniqueConstraint("digest", name=op.f("uq_suppression_digest")),
    )
    with op.batch_alter_table("suppression", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suppression_erasure_id"), ["erasure_id"])
        batch_op.create_index(batch_op.f("ix_suppression_key_version"), ["key_version"])
    op.create_table(
        "suppressed_count",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"], ["source.id"], name=op.f("fk_suppressed_count_source_id_source")
        ),
        sa.PrimaryKeyConstraint("source_id", "day", name=op.f("pk_suppressed_count")),
    )


def downgrade() -> None:
    op.drop_table("suppressed_count")
    with op.batch_alter_table("suppression", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suppression_key_version"))
        batch_op.drop_index(batch_op.f("ix_suppression_erasure_id"))
    op.drop_table("suppression")
    op.drop_table("secret_key")
