"""Every query identity resolution makes."""

from __future__ import annotations

import functools
import hashlib
import struct
import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Table,
    bindparam,
    case,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cdp.db import insert_rows
from cdp.identity.identifiers import STRONG_KINDS, Identifier
from cdp.models import (
    Base,
    Identity,
    IdentityWarning,
    Profile,
    ProfileMerge,
    ProfileSearch,
    ProfileTrait,
    SegmentEventChange,
    SegmentEventState,
    SegmentMembership,
)
from cdp.sql import any_of, dialect_of, json_array_sql, json_list


def _lock_key(ident: Identifier) -> int:
    digest = hashlib.blake2b(f"{ident.kind}\x00{ident.value}".encode(), digest_size=8).digest()
    return int(struct.unpack(">q", digest)[0])


_LOCK_KEYS = text(
    f"SELECT pg_advisory_xact_lock(k) FROM unnest({json_array_sql('keys', 'bigint')}) AS k"
)


def lock_identifiers(session: Session, identifiers: Iterable[Identifier]) -> None:
    """Serialise concurrent writers that touch the same identifiers (PostgreSQL).

    Locks are taken in sorted order so two batches can never wait on each other in a cycle.
    SQLite needs nothing: BEGIN IMMEDIATE already lets one writer in at a time.
    """
    if dialect_of(session) != "postgresql":
        return
    keys = sorted({_lock_key(ident) for ident in identifiers})
    if keys:
        session.connection().execute(_LOCK_KEYS, {"keys": json_list(keys)})


@functools.cache
def _lock_profiles_statement(dialect: str) -> Any:
    return (
        select(Profile.id)
        .where(any_of(Profile.id, "ids", dialect))
        .order_by(Profile.id)
        .with_for_update()
    )


def lock_profiles(session: Session, profile_ids: Sequence[uuid.UUID]) -> None:
    dialect = dialect_of(session)
    if dialect == "postgresql":
        session.connection().execute(_lock_profiles_statement(dialect), {"ids": list(profile_ids)})


@functools.cache
def _owners_statement(dialect: str) -> Any:
    return (
        select(
            Identity.kind,
            Identity.value,
            # A merge may have absorbed the owner: its identities then resolve to the survivor.
            func.coalesce(Profile.merged_into_id, Identity.profile_id),
        )
        .join(Profile, Profile.id == Identity.profile_id)
        .where(any_of(Identity.value, "values", dialect))
    )


def owners_of(session: Session, identifiers: Iterable[Identifier]) -> dict[Identifier, uuid.UUID]:
    """The live profile that owns each known identifier (an absorbed owner's survivor)."""
    wanted = set(identifiers)
    if not wanted:
        return {}
    values = sorted({ident.value for ident in wanted})
    dialect = dialect_of(session)
    # One array parameter on PostgreSQL; SQLite takes the values as an IN list, in chunks.
    step = len(values) if dialect == "postgresql" else 1000
    statement = _owners_statement(dialect)
    connection = session.connection()
    owners: dict[Identifier, uuid.UUID] = {}
    for start in range(0, len(values), step):
        rows = connection.execute(statement, {"values": values[start : start + step]})
        for kind, value, profile_id in rows:
            ident = Identifier(kind, value)
            if ident in wanted:
                owners[ident] = profile_id
    return owners


@functools.cache
def _profile_facts_statements(dialect: str) -> tuple[Any, Any]:
    first_seen = select(Profile.id, Profile.first_seen_at).where(any_of(Profile.id, "ids", dialect))
    strong = select(Identity.profile_id, Identity.kind, Identity.value).where(
        any_of(Identity.profile_id, "ids", dialect), Identity.kind.in_(STRONG_KINDS)
    )
    return first_seen, strong


def profile_facts(
    session: Session, profile_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, tuple[datetime, dict[str, set[str]]]]:
    """First-seen time and strong identifiers of stored profiles, for merge decisions."""
    ids = {"ids": list(set(profile_ids))}
    first_seen, strong = _profile_facts_statements(dialect_of(session))
    connection = session.connection()
    facts: dict[uuid.UUID, tuple[datetime, dict[str, set[str]]]] = {}
    for pid, first in connection.execute(first_seen, ids):
        facts[pid] = (first, {})
    for pid, kind, value in connection.execute(strong, ids):
        facts[pid][1].setdefault(kind, set()).add(value)
    return facts


@functools.cache
def profile_owned_tables() -> list[Table]:
    """Tables whose rows belong to a profile through a `profile_id` column; merges move them."""
    # Traits merge by rule; the search projection is rebuilt for the survivor; segment
    # memberships belong to a clustering run (the next run places the merged person);
    # segmentation's per-profile event aggregates follow the events (a trigger notes both
    # profiles when their events move, and the next run recomputes them).
    special = {
        ProfileTrait.__tablename__,
        ProfileSearch.__tablename__,
        SegmentMembership.__tablename__,
        SegmentEventState.__tablename__,
        SegmentEventChange.__tablename__,
    }
    return [
        table
        for table in Base.metadata.sorted_tables
        if "profile_id" in table.c and table.name not in special
    ]


@functools.cache
def _move_statements() -> tuple[Any, ...]:
    return tuple(
        update(table)
        .where(table.c.profile_id == bindparam("absorbed"))
        .values(profile_id=bindparam("survivor"))
        for table in profile_owned_tables()
    )


_TRAIT_COLUMNS = ("name", "value", "value_at", "first_value", "first_at", "search_text")


@functools.cache
def _absorbed_traits_statements() -> tuple[Any, Any]:
    table = cast(Table, ProfileTrait.__table__)
    rows = select(*(table.c[name] for name in _TRAIT_COLUMNS)).where(
        table.c.profile_id == bindparam("absorbed")
    )
    return rows, delete(table).where(table.c.profile_id == bindparam("absorbed"))


def move_profile_rows(session: Session, *, absorbed: uuid.UUID, survivor: uuid.UUID) -> None:
    connection = session.connection()
    ids = {"absorbed": absorbed, "survivor": survivor}
    for statement in _move_statements():
        connection.execute(statement, ids)
    _merge_traits(session, absorbed=absorbed, survivor=survivor)


def _merge_traits(session: Session, *, absorbed: uuid.UUID, survivor: uuid.UUID) -> None:
    """Each trait keeps the later value (ties go to the survivor) and the earlier first value."""
    read, remove = _absorbed_traits_statements()
    connection = session.connection()
    rows = connection.execute(read, {"absorbed": absorbed}).all()
    upsert_traits(
        session,
        [{"profile_id": survivor, **dict(zip(_TRAIT_COLUMNS, row, strict=True))} for row in rows],
        ties_keep_existing=True,
    )
    connection.execute(remove, {"absorbed": absorbed})


def current_trait_values(
    session: Session, keys: Collection[tuple[uuid.UUID, str]], *, lock: bool = False
) -> dict[tuple[uuid.UUID, str], Any]:
    """The stored value of each (profile, trait name) that has one.

    With `lock`, the rows are locked until the transaction ends (PostgreSQL), so the values
    read are still the stored ones when the caller writes its own.
    """
    wanted = set(keys)
    if not wanted:
        return {}
    dialect = dialect_of(session)
    statement = _trait_values_statement(dialect, lock and dialect == "postgresql")
    rows = session.connection().execute(
        statement,
        {
            "profile_ids": sorted({pid for pid, _name in wanted}),
            "names": sorted({name for _pid, name in wanted}),
        },
    )
    return {(pid, name): value for pid, name, value in rows if (pid, name) in wanted}


@functools.cache
def _trait_values_statement(dialect: str, lock: bool) -> Any:
    statement = (
        select(ProfileTrait.profile_id, ProfileTrait.name, ProfileTrait.value)
        .where(
            any_of(ProfileTrait.profile_id, "profile_ids", dialect),
            any_of(ProfileTrait.name, "names", dialect),
        )
        .order_by(ProfileTrait.profile_id, ProfileTrait.name)
    )
    return statement.with_for_update() if lock else statement


def upsert_traits(
    session: Session, rows: list[dict[str, Any]], *, ties_keep_existing: bool = False
) -> None:
    """Insert traits, or update where the incoming value is later / first value earlier."""
    if not rows:
        return
    session.execute(_upsert_traits_statement(dialect_of(session), ties_keep_existing), rows)


@functools.cache
def _upsert_traits_statement(dialect: str, ties_keep_existing: bool) -> Any:
    # Core on the table: every row renders every column, so one statement takes the whole list
    # (the ORM's bulk INSERT splits it by which values are None).
    table = cast(Table, ProfileTrait.__table__)
    stmt: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    new = stmt.excluded
    cur = table.c
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
    return stmt


def record_merge(
    session: Session,
    *,
    survivor: uuid.UUID,
    absorbed: uuid.UUID,
    reason: str,
    source_id: int | None,
    message_id: str | None,
    now: datetime,
    traits_before: dict[str, Any],
) -> int:
    """Mark `absorbed` (and whatever it had absorbed) as resolving to `survivor`; the id of the
    merge record (the caller records the rows it moves under it, see `merge_rows`)."""
    session.execute(
        update(Profile)
        .where((Profile.id == absorbed) | (Profile.merged_into_id == absorbed))
        .values(merged_into_id=survivor, merged_at=now)
    )
    first_last = session.execute(
        select(Profile.first_seen_at, Profile.last_seen_at).where(Profile.id == absorbed)
    ).one()
    touch_profiles(session, [(survivor, first_last[0], first_last[1])])
    merge = ProfileMerge(
        survivor_id=survivor,
        absorbed_id=absorbed,
        merged_at=now,
        reason=reason,
        source_id=source_id,
        message_id=message_id,
        rows_recorded=True,
        traits_before=traits_before,
    )
    session.add(merge)
    session.flush()
    return merge.id


# First and last seen of many profiles, as (id, first, last) rows in one JSON text (see JsonList).
_TOUCHES = (
    "(SELECT CAST(r->>0 AS uuid) AS id, CAST(r->>1 AS timestamptz) AS first_at, "
    "CAST(r->>2 AS timestamptz) AS last_at FROM json_array_elements(CAST(:rows AS json)) AS r) AS v"
)
_TOUCH_PROFILES_PG = text(
    "UPDATE profile AS p SET first_seen_at = LEAST(p.first_seen_at, v.first_at), "
    f"last_seen_at = GREATEST(p.last_seen_at, v.last_at) FROM {_TOUCHES} "
    "WHERE p.id = v.id AND (p.first_seen_at > v.first_at OR p.last_seen_at < v.last_at)"
)


def touch_profiles(session: Session, seen: Sequence[tuple[uuid.UUID, datetime, datetime]]) -> None:
    """Widen first/last seen of stored profiles to include the given times."""
    if not seen:
        return
    if dialect_of(session) == "postgresql":
        # One statement for all of them, in id order (a stable lock order), and rows whose times
        # already cover the new ones are left alone (no new row version, no WAL).
        ordered = sorted(seen, key=lambda row: row[0])
        session.execute(
            _TOUCH_PROFILES_PG,
            {"rows": json_list(ordered)},
        )
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


_TOUCH_LIVE_PG = text(
    "UPDATE profile AS p SET first_seen_at = LEAST(p.first_seen_at, v.first_at), "
    f"last_seen_at = GREATEST(p.last_seen_at, v.last_at) FROM {_TOUCHES} "
    "WHERE p.id = v.id RETURNING p.id, p.merged_into_id"
)


def touch_written_profiles(
    session: Session, seen: Sequence[tuple[uuid.UUID, datetime, datetime]]
) -> list[uuid.UUID]:
    """Widen first/last seen of the stored profiles a transaction wrote to, as its last step,
    and return those a concurrent merge absorbed, or an erasure deleted, since their owners were
    read.

    Every row is updated, so each stays locked until COMMIT: a merge or an erasure
    (`lock_profiles`, FOR UPDATE) that comes later waits, then moves or deletes what we wrote.
    One that committed earlier shows here as merged_into_id, or as a row not found, and the
    caller must start over (nothing may stay on an absorbed or deleted profile: events have no
    foreign key, this is what keeps their profile right). Last, so concurrent writers to one
    profile wait on each other only for a COMMIT. SQLite has one writer at a time: nothing can
    change under us there.
    """
    if not seen:
        return []
    if dialect_of(session) != "postgresql":
        touch_profiles(session, seen)
        return []
    ordered = sorted(seen, key=lambda row: row[0])  # a stable lock order
    rows = session.execute(
        _TOUCH_LIVE_PG,
        {"rows": json_list(ordered)},
    )
    live = {pid for pid, merged_into in rows if merged_into is None}
    return [pid for pid, _first, _last in ordered if pid not in live]


def insert_profiles(
    session: Session, rows: Sequence[tuple[uuid.UUID, datetime, datetime]], now: datetime
) -> None:
    if rows:
        insert_rows(
            session,
            cast(Table, Profile.__table__),
            [
                {
                    "id": pid,
                    "created_at": now,
                    "first_seen_at": first,
                    "last_seen_at": last,
                    "merged_into_id": None,
                    "merged_at": None,
                }
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
        insert_rows(
            session,
            cast(Table, Identity.__table__),
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


def repoint_identities(session: Session, rows: Sequence[tuple[Identifier, uuid.UUID]]) -> None:
    """Point stored identifiers to another live profile (a shared browser's anonymousId that
    follows the person identified on it last). The caller holds their identifier locks."""
    if not rows:
        return
    table = cast(Table, Identity.__table__)
    session.connection().execute(
        update(table)
        .where(table.c.kind == bindparam("k"), table.c.value == bindparam("v"))
        .values(profile_id=bindparam("pid")),
        [{"k": ident.kind, "v": ident.value, "pid": pid} for ident, pid in rows],
    )


def insert_warnings(session: Session, rows: list[dict[str, Any]]) -> None:
    """Rows with every column of the table but the id (Core: one statement for all of them)."""
    insert_rows(session, cast(Table, IdentityWarning.__table__), rows)
