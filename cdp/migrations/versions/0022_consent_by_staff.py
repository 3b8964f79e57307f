"""consent: statements staff record on the customer page (who, why, where)

A customer who grants or withdraws consent by phone, on a paper form or at the desk has it
recorded by a member of staff: the statement keeps who recorded it, the reason they gave, the
way it came in ("staff page") and the dealer they work at. Statements from sources (website,
tablet, import) leave these empty: their source says where they came from.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recorded_by_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("recorded_via", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("dealer_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_consent_recorded_by_user_id_staff_user"),
            "staff_user",
            ["recorded_by_user_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_consent_dealer_id_dealer"), "dealer", ["dealer_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_consent_dealer_id_dealer"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_consent_recorded_by_user_id_staff_user"), type_="foreignkey"
        )
        batch_op.drop_column("dealer_id")
        batch_op.drop_column("recorded_via")
        batch_op.drop_column("reason")
        batch_op.drop_column("recorded_by_user_id")
