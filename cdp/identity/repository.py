"""Every query identity resolution makes."""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cdp.identity.identifiers import STRONG_KINDS, Identifier
from cdp.models import (
    Base,
    Identity,
    IdentityWarning,
    Profile,
    ProfileMerge,
    ProfileSearch,
    ProfileTrait,
    SegmentMembership,
)


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def _lock_key(ident: Identifier) -> int:
    digest = hashlib.blake2b(f"{ident.kind}\x00{ident.value}".encode(), digest_size=8).digest()
    return int(struct.unpack(">q", digest)[0])


def lock_identifiers(session: Session, identifiers: Iterable[Identifier]) -> None:
    """Serialise concurrent writers that touch the same identifiers (PostgreSQL).

    Locks are taken in sorted order so two batches can never wait on each other in a cycle.
    SQLite needs nothing: BEGIN IMMEDIATE already lets one writer in at a time.
    """
    if dialect_of(session) != "postgresql":
        return
    keys = sorted({_lock_key(ident) for ident in identifiers})
    if keys:
        session.execute(
            text(
                "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"
            ).bindparams(keys=keys)
        )


def lock_profiles(session: Session, profile_ids: Sequence[uuid.UUID]) -> None:
    if dialect_of(session) == "postgresql":
        session.execute(
            select(Profile.id)
            .where(Profile.id.in_(sorted(profile_ids)))
            .order_by(Profile.id)
            .with_for_update()
        )


def owners_of(session: Session, identifiers: Iterable[Identifier]) -> dict[Identifier, uuid.UUID]:
    """The live profile that owns each known identifier."""
    wanted = set(identifiers)
    if not wanted:
        return {}
    values = sorted({ident.value for ident in wanted})
    owners: dict[Identifier, uuid.UUID] = {}
    for start in range(0, len(values), 1000):
        rows = session.execute(
            select(Identity.kind, Identity.value, Identity.profile_id).where(
                Identity.value.in_(values[start : start + 1000])
            )
        )
        for kind, value, profile_id in rows:
            ident = Identifier(kind, value)
            if ident in wanted:
                owners[ident] = profile_id
    # A concurrent merge may have absorbed an owner after its identities were read elsewhere.
    absorbed = {
        pid: survivor
        for pid, survivor in session.execute(
            select(Profile.id, Profile.merged_into_id).where(
                Profile.id.in_(set(owners.values())), Profile.merged_into_id.is_not(None)
            )
        )
        if survivor is not None
    }
    if absorbed:
        owners = {ident: absorbed.get(pid, pid) for ident, pid in owners.items()}
    return owners


def profile_facts(
    session: Session, profile_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, tuple[datetime, dict[str, set[str]]]]:
    """First-seen time and strong identifiers of stored profiles, for merge decisions."""
    ids = set(profile_ids)
    facts: dict[uuid.UUID, tuple[datetime, dict[str, set[str]]]] = {}
    for pid, first_seen in session.execute(
        select(Profile.id, Profile.first_seen_at).where(Profile.id.in_(ids))
    ):
        facts[pid] = (first_seen, {})
    for pid, kind, value in session.execute(
        select(Identity.profile_id, Identity.kind, Identity.value).where(
            Identity.profile_id.in_(ids), Identity.kind.in_(STRONG_KINDS)
        )
    ):
        facts[pid][1].setdefault(kind, set()).add(value)
    return facts


def _profile_owned_tables() -> list[Table]:
    """Tables whose rows belong to a profile through a `profile_id` column; merges move them."""
    # Traits merge by rule; the search projection is rebuilt for the survivor; segment
    # memberships belong to a clustering run (the next run places the merged person).
    special = {
        ProfileTrait.__tablename__,
        ProfileSearch.__tablename__,
        SegmentMembership.__tablename__,
    }
    return [
        table
        for table in Base.metadata.sorted_tables
        if "profile_id" in table.c and table.name not in special
    ]


def move_profile_rows(session: Session, *, absorbed: uuid.UUID, survivor: uuid.UUID) -> None:
    for table in _profile_owned_tables():
        session.execute(
            update(table).where(table.c.profile_id == absorbed).values(profile_id=survivor)
        )
    _merge_traits(session, absorbed=absorbed, survivor=survivor)


def _merge_traits(session: Session, *, absorbed: uuid.UUID, survivor: uuid.UUID) -> None:
    """Each trait keeps the later value (ties go to the survivor) and the earlier first value."""
    rows = session.scalars(select(ProfileTrait).where(ProfileTrait.profile_id == absorbed)).all()
    upsert_traits(
        session,
        [
            {
                "profile_id": survivor,
                "name": row.name,
                "value": row.value,
                "value_at": row.value_at,
                "first_value": row.first_value,
                "first_at": row.first_at,
                "search_text": row.search_text,
            }
            for row in rows
        ],
        ties_keep_existing=True,
    )
    for row in rows:
        session.delete(row)


def upsert_traits(
    session: Session, rows: list[dict[str, Any]], *, ties_keep_existing: bool = False
) -> None:
    """Insert traits, or update where the incoming value is later / first value earlier."""
    if not rows:
        return
    dialect = dialect_of(session)
    stmt: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ProfileTrait)
    new = stmt.excluded
    cur = ProfileTrait.__table__.c
    later = new.value_at > cur.value_at if ties_keep_existing else new.value_at >= cur.value_at
    stmt = stmt.on_conflict_do_update(
        index_elements=[cur.profile_id, cur.name],
        set_={
            "value": case((later, new.value), else_=cur.value),
            "search_text": case((later, new.search_text), else_=cur.search_text),
            "value_at": case((later, new.value_at), else_=cur.value_at),
            "first_value": case(
                (new.first_at < cur.first_at, new.first_value), else_=cur.first_value
            ),
            "first_at": case((new.first_at < cur.first_at, new.first_at), else_=cur.first_at),
        },
    )
    session.execute(stmt, rows)


def record_merge(
    session: Session,
    *,
    survivor: uuid.UUID,
    absorbed: uuid.UUID,
    reason: str,
    source_id: int | None,
    message_id: str | None,
    now: datetime,
) -> None:
    """Mark `absorbed` (and whatever it had absorbed) as resolving to `survivor`."""
    session.execute(
        update(Profile)
        .where((Profile.id == absorbed) | (Profile.merged_into_id == absorbed))
        .values(merged_into_id=survivor, merged_at=now)
    )
    first_last = session.execute(
        select(Profile.first_seen_at, Profile.last_seen_at).where(Profile.id == absorbed)
    ).one()
    touch_profiles(session, [(survivor, first_last[0], first_last[1])])
    session.add(
        ProfileMerge(
            survivor_id=survivor,
            absorbed_id=absorbed,
            merged_at=now,
            reason=reason,
            source_id=source_id,
            message_id=message_id,
        )
    )


def touch_profiles(session: Session, seen: Sequence[tuple[uuid.UUID, datetime, datetime]]) -> None:
    """Widen first/last seen of stored profiles to include the given times."""
    if not seen:
        return
    table = cast(Table, Profile.__table__)

    stmt = (
        update(table)
        .where(table.c.id == bindparam("pid"))
        .values(
            first_seen_at=case(
                (table.c.first_seen_at > bindparam("first"), bindparam("first")),
                else_=table.c.first_seen_at,
            ),
            last_seen_at=case(
                (table.c.last_seen_at < bindparam("last"), bindparam("last")),
                else_=table.c.last_seen_at,
            ),
        )
    )
    session.connection().execute(
        stmt, [{"pid": pid, "first": first, "last": last} for pid, first, last in seen]
    )


def insert_profiles(
    session: Session, rows: Sequence[tuple[uuid.UUID, datetime, datetime]], now: datetime
) -> None:
    if rows:
        session.execute(
            insert(Profile),
            [
                {"id": pid, "created_at": now, "first_seen_at": first, "last_seen_at": last}
                for pid, first, last in rows
            ],
        )


def insert_identities(
    session: Session,
    rows: Sequence[tuple[Identifier, uuid.UUID]],
    *,
    source_id: int | None,
    now: datetime,
) -> None:
    if rows:
        session.execute(
            insert(Identity),
            [
                {
                    "kind": ident.kind,
                    "value": ident.value,
                    "profile_id": pid,
                    "source_id": source_id,
                    "first_seen_at": now,
                }
                for ident, pid in rows
            ],
        )


def insert_warnings(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(IdentityWarning), rows)
