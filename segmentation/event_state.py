"""The per-profile event aggregates, kept between runs in `segment_event_state`.

The events are not read by every run: a run recomputes only the profiles whose events changed
since the previous one (`event_state`), and shifts the others' visit days to its own window
(`visit_days`). What is aggregated is `segmentation.feature_queries.event_aggregates`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    cast,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from cdp.models import Event, SegmentEventChange, SegmentEventState, SegmentEventStateInfo, utcnow
from cdp.sql import dialect_of
from segmentation import pgcopy
from segmentation.columns import Ids, literal_sql, raw_connection, read_columns
from segmentation.feature_queries import (
    EPOCH,
    HALF_WINDOW,
    STATE_COLUMNS,
    STATE_FLOATS,
    VISIT_WINDOW_DAYS,
    aggregate_columns,
    counted_events,
    day_number,
    event_aggregates,
)

# profile_id and STATE_COLUMNS, as COPY reads and writes them.
STATE_KINDS: tuple[pgcopy.Kind, ...] = ("uuid",) + ("float8",) * 8 + ("int8", "int8", "int4")
# Bump when what the state holds changes in a way its SQL does not show.
STATE_FORMAT = 1
# A run that finds more changed profiles than this share of the state (and more than
# REBUILD_ABOVE_PROFILES) rebuilds it from every event in one pass, instead of recomputing them
# one by one (about 0.2 ms each at a million profiles, against 1.5 µs per event for the pass).
REBUILD_ABOVE_SHARE = 0.2
REBUILD_ABOVE_PROFILES = 50_000


@dataclass(frozen=True)
class EventState:
    """`segment_event_state`'s rows, in profile id order."""

    ids: Ids
    floats: npt.NDArray[np.float64]  # (n, 8): STATE_FLOATS
    days_low: npt.NDArray[np.int64]
    days_high: npt.NDArray[np.int64]
    window_start: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, columns: Sequence[npt.NDArray[Any]]) -> EventState:
        ids = columns[0]
        order = np.argsort(ids, kind="stable")
        return cls(
            ids=ids[order],
            floats=np.stack([column[order] for column in columns[1:9]], axis=1).astype(np.float64)
            if len(ids)
            else np.zeros((0, len(STATE_FLOATS))),
            days_low=columns[9][order].astype(np.int64),
            days_high=columns[10][order].astype(np.int64),
            window_start=columns[11][order].astype(np.int64),
        )


def state_version(session: Session) -> str:
    """Which definition of the aggregates: a hash of their SQL on this database."""
    sql = literal_sql(session, event_aggregates(dialect_of(session), start=EPOCH))
    return hashlib.sha256(f"{STATE_FORMAT}\n{sql}".encode()).hexdigest()


StateWriter = Callable[[Session], None]


def event_state(
    session: Session, *, start: date, rebuild: bool = False
) -> tuple[EventState, dict[str, Any], StateWriter | None]:
    """The per-profile event aggregates, brought up to date for a run whose visit window starts
    at `start`, what it took, and what is left to write. Commits (the caller's session goes on
    in a new transaction).

    While the state is complete and of this version, only the profiles whose events changed
    since (`segment_event_change`, written by ingest and by triggers on `event`) and the rows
    that cannot be shifted to this window (computed for a later window, or with events after
    theirs) are recomputed from their events, in one statement; else (when many changed, see
    REBUILD_ABOVE_SHARE, or when asked to) the state is rebuilt from every event. A rebuild on
    PostgreSQL returns the writing of the state as a function of a session of its own, for the
    caller to run (and commit) while it does something else: until it is done, the state is
    marked incomplete, and nothing else reads it.
    """
    tune_for_aggregates(session)
    version = state_version(session)
    info = session.get(SegmentEventStateInfo, 1)
    if info is not None and info.version == version and not rebuild:
        changed = (
            session.scalar(select(func.count(func.distinct(SegmentEventChange.profile_id)))) or 0
        )
        if changed <= max(REBUILD_ABOVE_SHARE * info.profiles, REBUILD_ABOVE_PROFILES):
            recomputed = _refresh_state(session, start)
            state = EventState.of(read_columns(session, _state_rows(), STATE_KINDS))
            session.commit()
            return state, {"rebuilt": False, "changed": changed, "recomputed": recomputed}, None
    state, write = _rebuild_state(session, start, version)
    session.commit()
    return state, {"rebuilt": True, "changed": None, "recomputed": len(state)}, write


def _state_rows() -> Select[Any]:
    return select(
        SegmentEventState.profile_id,
        *(getattr(SegmentEventState, name) for name in STATE_COLUMNS),
    )


def _stale_rows(start: date) -> ColumnElement[bool]:
    """Rows a run with this window cannot shift: computed for a later window, or with an event
    after their window's end (its day is in no bitmap)."""
    state = SegmentEventState
    return or_(
        state.window_start > day_number(start),
        state.last_at >= cast(state.window_start + VISIT_WINDOW_DAYS, Float) * 86400,
    )


def _rebuild_state(
    session: Session, start: date, version: str
) -> tuple[EventState, StateWriter | None]:
    """Every profile's aggregates from every event. First, in a transaction of its own: the
    state is marked incomplete (no info row: if this run dies, the next one rebuilds) and the
    changes noted so far are dropped (what changes from here on is noted again, and recomputing
    a profile twice is harmless). Then the events are read, in a plain read; only the writing
    holds the table (merges and erasures never wait for the read)."""
    session.execute(delete(SegmentEventStateInfo))
    session.execute(delete(SegmentEventChange))
    names = ["profile_id", *STATE_COLUMNS]
    if dialect_of(session) != "postgresql":  # one writer at a time: all in one transaction
        session.execute(delete(SegmentEventState))
        session.execute(
            insert(SegmentEventState).from_select(names, event_aggregates("sqlite", start=start))
        )
        _state_complete(session, version)
        return EventState.of(read_columns(session, _state_rows(), STATE_KINDS)), None
    session.commit()
    tune_for_aggregates(session)
    with raw_connection(session).cursor() as cursor:
        rows = pgcopy.copy_out(
            cursor, literal_sql(session, event_aggregates("postgresql", start=start)), STATE_KINDS
        )
    rows = rows[np.argsort(rows["c0"], kind="stable")]  # the primary key's order
    state = EventState.of([pgcopy.column(rows, i, kind) for i, kind in enumerate(STATE_KINDS)])

    def write(writer: Session) -> None:
        writer.execute(text("TRUNCATE segment_event_state"))
        with raw_connection(writer).cursor() as cursor:
            pgcopy.copy_in(cursor, SegmentEventState.__tablename__, names, rows)
        _state_complete(writer, version)

    return state, write


def _state_complete(session: Session, version: str) -> None:
    profiles = session.scalar(select(func.count()).select_from(SegmentEventState)) or 0
    session.execute(delete(SegmentEventStateInfo))
    session.add(SegmentEventStateInfo(id=1, version=version, built_at=utcnow(), profiles=profiles))
    session.flush()


def _refresh_state(session: Session, start: date) -> int:
    """Recompute the changed and unshiftable profiles; how many."""
    if dialect_of(session) == "postgresql":
        with raw_connection(session).cursor() as cursor:
            cursor.execute(_refresh_sql_pg(session, start))
            row = cursor.fetchone()
        return int(row[0]) if row else 0
    # SQLite: one writer at a time (BEGIN IMMEDIATE), so these statements see one state.
    state, change = SegmentEventState, SegmentEventChange
    session.execute(
        insert(change).from_select(
            ["profile_id"], select(state.profile_id).where(_stale_rows(start))
        )
    )
    todo = select(change.profile_id)
    recomputed = session.scalar(select(func.count(func.distinct(change.profile_id)))) or 0
    session.execute(delete(state).where(state.profile_id.in_(todo)))
    session.execute(
        insert(state).from_select(
            ["profile_id", *STATE_COLUMNS],
            event_aggregates("sqlite", start=start).where(Event.profile_id.in_(todo)),
        )
    )
    session.execute(delete(change))
    return recomputed


def _refresh_sql_pg(session: Session, start: date) -> str:
    """One statement, so that the changes it takes and the events it reads are one snapshot: a
    change committed meanwhile stays for the next run, with its events. Each profile is
    recomputed by a LATERAL subquery, which walks ix_event_profile_occurred (the planner's
    estimate of events per profile would otherwise pick a scan of every event)."""
    per_profile = select(*aggregate_columns("postgresql", start)).where(
        *counted_events(), Event.profile_id == literal_column("todo.profile_id")
    )
    stale = select(SegmentEventState.profile_id).where(_stale_rows(start))
    columns = ", ".join(STATE_COLUMNS)
    updates = ", ".join(f"{name} = excluded.{name}" for name in STATE_COLUMNS)
    return f"""
WITH changed AS (DELETE FROM segment_event_change RETURNING profile_id),
todo AS (SELECT profile_id FROM changed UNION {literal_sql(session, stale)}),
fresh AS (
    SELECT todo.profile_id, computed.* FROM todo
    CROSS JOIN LATERAL ({literal_sql(session, per_profile)}) AS computed
    WHERE computed.activity_pack IS NOT NULL
),
gone AS (
    DELETE FROM segment_event_state
    WHERE profile_id IN (SELECT profile_id FROM todo EXCEPT SELECT profile_id FROM fresh)
    RETURNING profile_id
),
written AS (
    INSERT INTO segment_event_state (profile_id, {columns})
    SELECT profile_id, {columns} FROM fresh
    ON CONFLICT (profile_id) DO UPDATE SET {updates}
    RETURNING profile_id
)
SELECT (SELECT count(*) FROM todo), (SELECT count(*) FROM gone), (SELECT count(*) FROM written)
"""


def visit_days(state: EventState, start: date) -> tuple[npt.NDArray[np.uint64], ...]:
    """The day bitmaps shifted to the window from `start` (rows are never of a later window:
    `event_state` recomputes those). Days before the window fall off; after a row's window's
    end it has no events (or it would have been recomputed)."""
    shift = day_number(start) - state.window_start
    assert (shift >= 0).all()
    low = state.days_low.astype(np.uint64)
    high = state.days_high.astype(np.uint64)
    mask = np.uint64(2**HALF_WINDOW - 1)
    within = shift < HALF_WINDOW
    right = np.minimum(shift, HALF_WINDOW).astype(np.uint64)
    left = np.clip(HALF_WINDOW - shift, 0, HALF_WINDOW).astype(np.uint64)
    beyond = np.clip(shift - HALF_WINDOW, 0, HALF_WINDOW).astype(np.uint64)
    new_low = np.where(
        within,
        (low >> right) | ((high << left) & mask),
        np.where(shift < VISIT_WINDOW_DAYS, high >> beyond, np.uint64(0)),
    )
    new_high = np.where(within, high >> right, np.uint64(0))
    return new_low.astype(np.uint64), new_high.astype(np.uint64)


def tune_for_aggregates(session: Session) -> None:
    """PostgreSQL: room for hash aggregates of a million groups, and UTC days."""
    if dialect_of(session) == "postgresql":
        session.execute(text("SET LOCAL work_mem = '256MB'"))
        session.execute(text("SET LOCAL TIME ZONE 'UTC'"))
