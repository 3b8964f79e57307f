"""Storing and reading segmentation runs: the runs, their segments and memberships (bulk
inserted: binary COPY on PostgreSQL), and the colour swatches segment summaries show.

What the features read is queried in `segmentation.feature_queries` (the event aggregates are
kept between runs by `segmentation.event_state`) and read into numpy by `segmentation.columns`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Select, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from cdp.models import Configuration, Profile, Segment, SegmentMembership, SegmentRun
from cdp.sql import dialect_of
from segmentation import pgcopy
from segmentation.columns import Ids, as_uuids, raw_connection


# --- runs -------------------------------------------------------------------------------------
def get_run(session: Session, run_id: int) -> SegmentRun | None:
    return session.get(SegmentRun, run_id)


def lock_runs(session: Session) -> None:
    """Serialise run creation (PostgreSQL; SQLite's BEGIN IMMEDIATE already does)."""
    if dialect_of(session) == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7734001)"))


def unfinished_runs(session: Session) -> Sequence[SegmentRun]:
    return session.scalars(
        select(SegmentRun)
        .where(SegmentRun.status.in_(("queued", "running")))
        .order_by(SegmentRun.id)
    ).all()


def latest_done_run(session: Session, *, before: int | None = None) -> SegmentRun | None:
    statement = select(SegmentRun).where(SegmentRun.status == "done")
    if before is not None:
        statement = statement.where(SegmentRun.id < before)
    return session.scalar(statement.order_by(SegmentRun.id.desc()).limit(1))


def runs(session: Session, *, limit: int) -> Sequence[SegmentRun]:
    return session.scalars(select(SegmentRun).order_by(SegmentRun.id.desc()).limit(limit)).all()


def set_progress(session: Session, run_id: int, *, progress: float, stage: str) -> None:
    session.execute(
        update(SegmentRun)
        .where(SegmentRun.id == run_id)
        .values(progress=progress, stage=stage, status="running")
    )


def segments_of(session: Session, run_id: int) -> Sequence[Segment]:
    return session.scalars(
        select(Segment).where(Segment.run_id == run_id).order_by(Segment.number)
    ).all()


def insert_segments(session: Session, rows: list[dict[str, Any]]) -> dict[int, int]:
    """Insert the run's segments; their ids by segment number."""
    segments = [Segment(**row) for row in rows]
    session.add_all(segments)
    session.flush()
    return {segment.number: segment.id for segment in segments}


def insert_memberships(
    session: Session, *, run_id: int, segment_ids: npt.NDArray[np.int64], profile_ids: Ids
) -> None:
    """Bulk insert of memberships (profile ids as 16-byte strings, best in id order: the
    primary key's): binary COPY on PostgreSQL, executemany on SQLite."""
    if not len(profile_ids):
        return
    if dialect_of(session) == "postgresql":
        rows = pgcopy.pack(
            ("int4", "int4", "uuid"),
            [np.full(len(profile_ids), run_id), segment_ids, profile_ids],
        )
        with raw_connection(session).cursor() as cursor:
            pgcopy.copy_in(
                cursor,
                SegmentMembership.__tablename__,
                ("run_id", "segment_id", "profile_id"),
                rows,
            )
        return
    session.execute(
        insert(SegmentMembership),
        [
            {"run_id": run_id, "segment_id": int(segment_id), "profile_id": profile_id}
            for segment_id, profile_id in zip(
                segment_ids.tolist(), as_uuids(profile_ids), strict=True
            )
        ],
    )


def delete_run_results(session: Session, run_id: int) -> None:
    """Remove what a failed run stored, so only finished runs have segments."""
    session.execute(delete(SegmentMembership).where(SegmentMembership.run_id == run_id))
    session.execute(delete(Segment).where(Segment.run_id == run_id))


def lock_segments_of(session: Session, run_id: int) -> Sequence[Segment]:
    """A run's segments, locked until the transaction ends (PostgreSQL; SQLite's transactions
    take the one write lock): two renames in one run are checked against each other."""
    return session.scalars(
        select(Segment).where(Segment.run_id == run_id).order_by(Segment.number).with_for_update()
    ).all()


def rename_segment(session: Session, segment_id: int, name: str | None) -> Segment | None:
    segment = session.get(Segment, segment_id)
    if segment is not None:
        segment.custom_name = name
        session.flush()
    return segment


def membership_of(session: Session, run_id: int, profile_id: uuid.UUID) -> Segment | None:
    return session.scalar(
        select(Segment)
        .join(SegmentMembership, SegmentMembership.segment_id == Segment.id)
        .where(SegmentMembership.run_id == run_id, SegmentMembership.profile_id == profile_id)
    )


def live_profile_id(session: Session, profile_id: uuid.UUID) -> uuid.UUID | None:
    row = session.execute(
        select(Profile.id, Profile.merged_into_id).where(Profile.id == profile_id)
    ).first()
    if row is None:
        return None
    return row[1] or row[0]


def member_ids(segment_ids: Sequence[int]) -> Select[uuid.UUID]:
    """The profile ids in any of these segments, as a statement to build audiences on."""
    return select(SegmentMembership.profile_id).where(SegmentMembership.segment_id.in_(segment_ids))


# --- segment summaries -------------------------------------------------------------------------
def colour_swatches(session: Session, names: Sequence[str]) -> dict[str, str]:
    """The colour_hex saved configurations most often give each colour name."""
    if not names:
        return {}
    rows = session.execute(
        select(Configuration.colour, Configuration.colour_hex, func.count())
        .where(Configuration.colour.in_(names), Configuration.colour_hex.is_not(None))
        .group_by(Configuration.colour, Configuration.colour_hex)
        .order_by(Configuration.colour, func.count().desc(), Configuration.colour_hex)
    ).all()
    found: dict[str, str] = {}
    for name, colour_hex, _count in rows:
        found.setdefault(str(name), str(colour_hex))
    return found


def finish_run(session: Session, run_id: int, **values: Any) -> None:
    session.execute(update(SegmentRun).where(SegmentRun.id == run_id).values(**values))
