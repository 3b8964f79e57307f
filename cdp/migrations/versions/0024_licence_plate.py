"""Licence plates: profile_search.plate (indexed, what lookup finds) and note.licence_plate

Backfills profile_search.plate from the plate traits already stored (licence_plate,
license_plate, plate), in their canonical spelling; values that are no Dutch or Belgian plate
are left out, as the projection leaves them out. (A profile with a plate trait and no search
row, one with no name or contact details, gets its row the next time the projection rewrites it.)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 07:30:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from cdp.licence_plates import normalise_plate
from cdp.models.base import JsonType, UtcDateTime

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PLATE_TRAITS = (
    "licence_plate",
    "license_plate",
    "licencePlate",
    "licensePlate",
    "plate",
)  # cdp.profiles.projection's


def upgrade() -> None:
    op.add_column("profile_search", sa.Column("plate", sa.String(length=12), nullable=True))
    op.create_index(op.f("ix_profile_search_plate"), "profile_search", ["plate"], unique=False)
    op.add_column("note", sa.Column("licence_plate", sa.String(length=12), nullable=True))
    _backfill()


def _backfill() -> None:
    connection = op.get_bind()
    trait = sa.table(
        "profile_trait",
        sa.column("profile_id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("value", JsonType),
        sa.column("value_at", UtcDateTime()),
    )
    search = sa.table(
        "profile_search", sa.column("profile_id", sa.Uuid()), sa.column("plate", sa.String())
    )
    latest: dict[Any, tuple[Any, str]] = {}
    rows = connection.execute(
        sa.select(trait.c.profile_id, trait.c.value, trait.c.value_at).where(
            trait.c.name.in_(_PLATE_TRAITS)
        )
    )
    for pid, value, value_at in rows:
        plate = normalise_plate(value if isinstance(value, str) else None)
        if plate and (pid not in latest or value_at > latest[pid][0]):
            latest[pid] = (value_at, plate)
    if latest:
        connection.execute(
            search.update()
            .where(search.c.profile_id == sa.bindparam("pid"))
            .values(plate=sa.bindparam("new_plate")),
            [{"pid": pid, "new_plate": plate} for pid, (_, plate) in latest.items()],
        )


def downgrade() -> None:
    with op.batch_alter_table("note") as batch_op:
        batch_op.drop_column("licence_plate")
    with op.batch_alter_table("profile_search") as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_search_plate"))
        batch_op.drop_column("plate")
