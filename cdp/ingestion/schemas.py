"""Segment Tracking API messages, as tracking libraries send them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cdp.json_exact import WRITER_MAX_DEPTH

MessageType = Literal["identify", "track", "page", "screen", "group", "alias"]
MESSAGE_TYPES: tuple[str, ...] = ("identify", "track", "page", "screen", "group", "alias")

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
# Objects and arrays nested in a message, the message itself counting as one: far above what
# tracking sends (a handful), and what orjson writes, so one call to it checks a message.
MAX_MESSAGE_DEPTH = WRITER_MAX_DEPTH


def aware(value: datetime) -> datetime:
    """A time without an offset is UTC (Segment's libraries always send one)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class Message(BaseModel):
    """One call. Libraries may send any optional field as explicit null."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    type: MessageType
    anonymousId: str | None = Field(default=None, max_length=400)
    userId: str | None = Field(default=None, max_length=400)
    messageId: str | None = Field(default=None, max_length=200)
    timestamp: datetime | None = None
    originalTimestamp: datetime | None = None
    sentAt: datetime | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    event: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=200)
    previousId: str | None = Field(default=None, max_length=400)
    groupId: str | None = Field(default=None, max_length=400)

    @model_validator(mode="after")
    def _required_per_type(self) -> Message:
        if self.type == "track" and not (self.event and self.event.strip()):
            raise ValueError("event: a track call needs a non-empty event name")
        if self.type == "alias" and not (self.previousId and self.userId):
            raise ValueError("previousId: an alias call needs previousId and userId")
        if self.type == "group" and not self.groupId:
            raise ValueError("groupId: a group call needs a groupId")
        if self.anonymousId is None and self.userId is None and self.type != "alias":
            raise ValueError("userId: either userId or anonymousId is required")
        return self


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    batch: list[dict[str, Any]]
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    sentAt: datetime | None = None
    writeKey: str | None = None


class Rejection(BaseModel):
    index: int
    field: str | None
    reason: str


class IngestResponse(BaseModel):
    success: bool
    accepted: int
    duplicates: int
    rejected: list[Rejection] = []
