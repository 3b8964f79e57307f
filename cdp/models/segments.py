"""Behavioural segments: clustering runs, their segments, memberships, audiences and exports."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, BigIntPK, JsonType, UtcDateTime, utcnow

RUN_STATUSES = ("queued", "running", "done", "failed")


class SegmentRun(Base):
    """One clustering run: parameters, progress, quality, and when it became current."""

    __tablename__ = "segment_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    progress: Mapped[float] = mapped_column(default=0.0)  # 0..1, for progress bars
    stage: Mapped[str | None] = mapped_column(String(100), default=None)
    parameters: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    quality: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    profiles: Mapped[int] = mapped_column(Integer, default=0)
    segments: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id"), default=None
    )
    created_by: Mapped[str] = mapped_column(String(200))  # a name, or "cli"
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class Segment(Base):
    __tablename__ = "segment"
    __table_args__ = (UniqueConstraint("run_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("segment_run.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))  # generated from what sets it apart
    custom_name: Mapped[str | None] = mapped_column(String(200), default=None)  # marketer's
    description: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    # Mean of each feature in the segment, and of everyone clustered, for the overview charts.
    profile: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)  # models, colours, ...

    @property
    def display_name(self) -> str:
        return self.custom_name or self.name


class SegmentMembership(Base):
    """A clustered profile's segment in a run. The run is the segment's: `run_id` is repeated
    here for the primary key (one segment per profile and run) and for reading a run's
    memberships, with no foreign key of its own (a run's memberships are written a million at
    a time, and each foreign key is a check per row)."""

    __tablename__ = "segment_membership"
    __table_args__ = (Index("ix_segment_membership_profile", "profile_id"),)

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"), primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segment.id"), index=True)


class SegmentEventState(Base):
    """Per profile, the aggregates of its configurator events that segmentation reads
    (`segmentation.feature_queries.STATE_COLUMNS`), so a run reads a million rows, not every event.

    Kept exact by the runs: every profile whose events are inserted (by ingest), updated (merges
    move them) or deleted (triggers on `event`) is noted in `segment_event_change`, and a
    run first recomputes those profiles from their events. Keyed by the raw `profile_id` of the
    events, like the events: merges do not move these rows (both profiles are noted and
    recomputed); deleting a profile (an erasure) deletes its row.
    """

    __tablename__ = "segment_event_state"

    profile_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("profile.id", ondelete="CASCADE"), primary_key=True
    )
    activity_pack: Mapped[float] = mapped_column(Float)
    interest_pack: Mapped[float] = mapped_column(Float)
    body_pack: Mapped[float] = mapped_column(Float)
    action_pack: Mapped[float] = mapped_column(Float)
    price_pack: Mapped[float] = mapped_column(Float)
    steps_reached: Mapped[float] = mapped_column(Float)
    first_at: Mapped[float] = mapped_column(Float)  # seconds since 1970, UTC
    last_at: Mapped[float] = mapped_column(Float)
    # Days with events: bit i of days_low is day window_start + i (i < 63), bit i of days_high
    # day window_start + 63 + i; window_start in days since 1970 (the 126-day window of the run
    # that computed the row).
    days_low: Mapped[int] = mapped_column(BigInteger)
    days_high: Mapped[int] = mapped_column(BigInteger)
    window_start: Mapped[int] = mapped_column(Integer)


class SegmentEventChange(Base):
    """A profile whose events changed since the last segmentation run (written by ingest and by
    triggers on `event`; a run takes and deletes what it sees). Duplicates are fine, and no
    unique key, so writers never wait for each other here; deleting the profile deletes its
    rows."""

    __tablename__ = "segment_event_change"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("profile.id", ondelete="CASCADE"), index=True
    )


class SegmentEventStateInfo(Base):
    """One row while `segment_event_state` is complete: which definition of the aggregates
    built it (a hash of their SQL) and when. No row, or another version: the next run rebuilds
    the state from every event."""

    __tablename__ = "segment_event_state_info"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    built_at: Mapped[datetime] = mapped_column(UtcDateTime)
    profiles: Mapped[int] = mapped_column(Integer)


class Audience(Base):
    """A saved set of rules a marketer reuses (segment, model, colour, consent, ...)."""

    __tablename__ = "audience"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ExportLog(Base):
    """Accountability for every export of contact data: who, when, what, how many rows."""

    __tablename__ = "export_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    exported_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id"), default=None
    )
    exported_by: Mapped[str] = mapped_column(String(200))
    what: Mapped[str] = mapped_column(String(300))  # "audience: ...", "segment: ..."
    rules: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    rows: Mapped[int] = mapped_column(Integer)
    exported_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
