"""Behavioural segments: clustering runs, their segments, memberships, audiences and exports."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, JsonType, UtcDateTime, utcnow

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
    __tablename__ = "segment_membership"
    __table_args__ = (
        UniqueConstraint("run_id", "profile_id"),
        Index("ix_segment_membership_profile", "profile_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("segment_run.id"))
    segment_id: Mapped[int] = mapped_column(ForeignKey("segment.id"), index=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"))


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
