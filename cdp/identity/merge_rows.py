"""What a merge moved, kept so that staff can undo a wrong merge (a split): every query of it.

A merge records, before moving them, the ids of the absorbed profile's rows in every table
`move_profile_rows` moves, and the traits of both profiles as they were (traits merge by rule,
so the absorbed profile's cannot be told apart afterwards). A split moves exactly those rows
back, where they are still on the survivor.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, literal, select, update
from sqlalchemy.orm import Session

from cdp.identity.repository import profile_owned_tables, upsert_traits
from cdp.models import Profile, ProfileMerge, ProfileMergeRow, ProfileTrait

TRAIT_COLUMNS = ("name", "value", "value_at", "first_value", "first_at", "search_text")
_TIMES = ("value_at", "first_at")


def record_moving_rows(session: Session, *, merge_id: int, absorbed: uuid.UUID) -> None:
    """Note the ids of the absorbed profile's rows that the merge is about to move."""
    rows = cast(Table, ProfileMergeRow.__table__)
    connection = session.connection()
    for table in profile_owned_tables():
        connection.execute(
            insert(rows).from_select(
                ["merge_id", "table_name", "row_id"],
                select(literal(merge_id), literal(table.name), table.c.id).where(
                    table.c.profile_id == absorbed
                ),
            )
        )


def traits_snapshot(session: Session, profile_id: uuid.UUID) -> list[dict[str, Any]]:
    """The profile's traits as JSON-ready dicts (times as ISO text)."""
    table = cast(Table, ProfileTrait.__table__)
    rows = session.connection().execute(
        select(*(table.c[name] for name in TRAIT_COLUMNS)).where(table.c.profile_id == profile_id)
    )
    snapshot = []
    for row in rows:
        trait = dict(zip(TRAIT_COLUMNS, row, strict=True))
        for key in _TIMES:
            trait[key] = trait[key].isoformat()
        snapshot.append(trait)
    return snapshot


def read_snapshot(traits: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A snapshot back as trait name -> columns, times as datetimes."""
    return {
        t["name"]: {**t, **{key: datetime.fromisoformat(t[key]) for key in _TIMES}} for t in traits
    }


def move_rows_back(
    session: Session, *, merge_id: int, survivor: uuid.UUID, absorbed: uuid.UUID
) -> dict[str, int]:
    """Move the rows the merge moved back to the absorbed profile, those still on the survivor
    (a row deleted since, or moved on, stays where it is). Returns the count per table."""
    moved_rows = cast(Table, ProfileMergeRow.__table__)
    connection = session.connection()
    counts: dict[str, int] = {}
    for table in profile_owned_tables():
        ids = select(moved_rows.c.row_id).where(
            moved_rows.c.merge_id == merge_id, moved_rows.c.table_name == table.name
        )
        result = connection.execute(
            update(table)
            .where(table.c.profile_id == survivor, table.c.id.in_(ids))
            .values(profile_id=absorbed)
        )
        if result.rowcount:
            counts[table.name] = result.rowcount
    return counts


def merged_before(session: Session, profile_id: uuid.UUID) -> set[uuid.UUID]:
    """The profiles merged into this one, directly or through others, by merges not split."""
    found: set[uuid.UUID] = set()
    frontier = {profile_id}
    while frontier:
        absorbed = set(
            session.scalars(
                select(ProfileMerge.absorbed_id).where(
                    ProfileMerge.survivor_id.in_(frontier), ProfileMerge.split_at.is_(None)
                )
            )
        )
        frontier = absorbed - found - {profile_id}
        found |= frontier
    return found


def point_profiles(
    session: Session, ids: set[uuid.UUID], *, at: uuid.UUID | None, now: datetime | None
) -> None:
    if ids:
        session.execute(
            update(Profile).where(Profile.id.in_(ids)).values(merged_into_id=at, merged_at=now)
        )


def replace_traits(session: Session, profile_id: uuid.UUID, traits: list[dict[str, Any]]) -> None:
    session.execute(delete(ProfileTrait).where(ProfileTrait.profile_id == profile_id))
    upsert_traits(session, [{"profile_id": profile_id, **t} for t in traits])


def was_split(session: Session, one: uuid.UUID, other: uuid.UUID) -> bool:
    """Whether staff split these two profiles apart (the pair is not merged again)."""
    pair = [one, other]
    return (
        session.scalar(
            select(ProfileMerge.id)
            .where(
                ProfileMerge.survivor_id.in_(pair),
                ProfileMerge.absorbed_id.in_(pair),
                ProfileMerge.split_at.is_not(None),
            )
            .limit(1)
        )
        is not None
    )


def forget_moved_rows(session: Session, merge_ids: Any) -> int:
    """Delete what merges recorded as moved (an erasure, before it deletes the merges)."""
    result = session.execute(delete(ProfileMergeRow).where(ProfileMergeRow.merge_id.in_(merge_ids)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def seen_snapshot(session: Session, profile_id: uuid.UUID) -> list[str]:
    first, last = session.execute(
        select(Profile.first_seen_at, Profile.last_seen_at).where(Profile.id == profile_id)
    ).one()
    return [first.isoformat(), last.isoformat()]
