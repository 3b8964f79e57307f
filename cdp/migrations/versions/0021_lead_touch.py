"""lead.first_touch, lead.last_touch: the campaign and referrer that brought a lead

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 08:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


def upgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_touch", _json(), nullable=True))
        batch_op.add_column(sa.Column("last_touch", _json(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_column("last_touch")
        batch_op.drop_column("first_touch")
