"""quarantined_message.message_id: a refused message retried by its client is kept once

The messageId a refused message carried (when it is a usable one), unique per source. Rows kept
before have none (NULL, never a conflict): a retry of one of those is kept once more.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_quarantined_message_source_message"


def upgrade() -> None:
    op.add_column(
        "quarantined_message", sa.Column("message_id", sa.String(length=200), nullable=True)
    )
    op.create_index(_INDEX, "quarantined_message", ["source_id", "message_id"], unique=True)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="quarantined_message")
    with op.batch_alter_table("quarantined_message") as batch_op:
        batch_op.drop_column("message_id")
