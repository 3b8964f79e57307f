"""Stored events, the quarantine of rejected messages, and saved configurations."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, BigIntPK, JsonType, UtcDateTime, utcnow


class Event(Base):
    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("source_id", "message_id"),
        Index("ix_event_profile_occurred", "profile_id", "occurred_at"),
    )

    # No foreign keys (migration 0007): they cost a third of the database's work per stored
    # event. Ingest keeps `profile_id` right (see insert_events), and sources are never deleted.
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    # The track event name, or the page/screen name.
    name: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    profile_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    anonymous_id: Mapped[str | None] = mapped_column(String(400))
    user_id: Mapped[str | None] = mapped_column(String(400))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # Only ever read whole: json text on PostgreSQL, checked on the way in but not taken apart
    # (jsonb cost a quarter of the database's work per stored event; migration 0007).
    traits: Mapped[dict[str, Any]] = mapped_column(JSON)
    context: Mapped[dict[str, Any]] = mapped_column(JSON)


class QuarantinedMessage(Base):
    """A message we refused, kept raw with the reason so nothing is silently dropped."""

    __tablename__ = "quarantined_message"
    # A client retrying a refused message sends it again: kept once per source and messageId
    # (migration 0008). Messages without a messageId (NULL) are each kept.
    __table_args__ = (
        Index("ix_quarantined_message_source_message", "source_id", "message_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id"), default=None)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    endpoint: Mapped[str] = mapped_column(String(40))
    batch_index: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(200), default=None)


class Configuration(Base):
    """A saved configuration: first-class, not just an event."""

    __tablename__ = "configuration"
    __table_args__ = (Index("ix_configuration_profile_saved", "profile_id", "saved_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), unique=True)
    code: Mapped[str] = mapped_column(String(100), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[int] = mapped_column(ForeignKey("source.id"))
    saved_at: Mapped[datetime] = mapped_column(UtcDateTime)
    model: Mapped[str | None] = mapped_column(String(200))
    trim: Mapped[str | None] = mapped_column(String(200))
    engine: Mapped[str | None] = mapped_column(String(200))
    colour: Mapped[str | None] = mapped_column(String(200))
    colour_hex: Mapped[str | None] = mapped_column(String(7))
    wheels: Mapped[str | None] = mapped_column(String(200))
    interior: Mapped[str | None] = mapped_column(String(200))
    body_type: Mapped[str | None] = mapped_column(String(40), default=None)  # suv, estate, ...
    fuel: Mapped[str | None] = mapped_column(String(20), default=None)  # electric, hybrid, ...
    options: Mapped[list[Any]] = mapped_column(JsonType)
    total_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    currency: Mapped[str | None] = mapped_column(String(3))
    url: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
