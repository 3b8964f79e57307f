"""dealers: the dealer network (locations, their staff), and the dealer every lead, contact
attempt, appointment, note, tablet session and delivery belongs to

An existing installation upgrades to one default dealer (code MAIN) holding everything it had:
its leads and what hangs off them, and its floor staff (sales, reception, delivery, managers).
Admins and marketing stay network-wide (no dealer), as do existing API tokens, so a single
showroom works as before with no dealer set up. A fresh database gets the default dealer too.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cdp.models.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables whose rows belong to a dealer (filled from the default dealer below).
DEALER_OWNED = ("lead", "contact_attempt", "appointment", "tablet_session", "note", "delivery")
FLOOR_ROLES = ("sales", "reception", "delivery", "manager")


def upgrade() -> None:
    op.create_table(
        "dealer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("postal_code", sa.String(length=20), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("opening_hours", sa.Text(), nullable=True),
        sa.Column(
            "postal_areas",
            sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", cdp.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dealer")),
        sa.UniqueConstraint("code", name=op.f("uq_dealer_code")),
    )
    op.create_table(
        "staff_dealer",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("dealer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dealer_id"], ["dealer.id"], name=op.f("fk_staff_dealer_dealer_id_dealer")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_user.id"], name=op.f("fk_staff_dealer_user_id_staff_user")
        ),
        sa.PrimaryKeyConstraint("user_id", "dealer_id", name=op.f("pk_staff_dealer")),
    )
    with op.batch_alter_table("staff_dealer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_dealer_dealer_id"), ["dealer_id"], unique=False)
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dealer_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_token_dealer_id_dealer"), "dealer", ["dealer_id"], ["id"]
        )
    for table in DEALER_OWNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("dealer_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_dealer_id_dealer"), "dealer", ["dealer_id"], ["id"]
            )
            batch_op.create_index(batch_op.f(f"ix_{table}_dealer_id"), ["dealer_id"], unique=False)

    dealer = sa.table(
        "dealer",
        sa.column("code", sa.String()),
        sa.column("name", sa.String()),
        sa.column("country", sa.String()),
        sa.column("postal_areas", sa.JSON()),
        sa.column("active", sa.Boolean()),
        sa.column("created_at", cdp.models.base.UtcDateTime()),
    )
    op.execute(
        dealer.insert().values(
            code="MAIN",
            name="Main showroom",
            country="NL",
            postal_areas=[],
            active=True,
            created_at=sa.func.now(),
        )
    )
    main = "(SELECT id FROM dealer WHERE code = 'MAIN')"
    for table in DEALER_OWNED:
        op.execute(f"UPDATE {table} SET dealer_id = {main}")
    roles = ", ".join(f"'{role}'" for role in FLOOR_ROLES)
    op.execute(
        f"INSERT INTO staff_dealer (user_id, dealer_id) "
        f"SELECT id, {main} FROM staff_user WHERE role IN ({roles})"
    )


def downgrade() -> None:
    for table in DEALER_OWNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_dealer_id"))
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_dealer_id_dealer"), type_="foreignkey")
            batch_op.drop_column("dealer_id")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_token_dealer_id_dealer"), type_="foreignkey")
        batch_op.drop_column("dealer_id")
    op.drop_table("staff_dealer")
    op.drop_table("dealer")
