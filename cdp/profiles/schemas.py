"""What the read API returns about a profile."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, field_validator

from cdp.text import hex_colour_or_none, web_address


class IdentifierOut(BaseModel):
    kind: str
    value: str
    first_seen_at: datetime


class ConsentOut(BaseModel):
    purpose: str
    status: str
    stated_at: datetime
    wording: str | None
    source: str | None
    # The e-mail address or phone number it was made for (None: made for none).
    address: str | None = None


class ConfigurationOut(BaseModel):
    code: str
    channel: str
    source: str | None
    saved_at: datetime
    model: str | None
    trim: str | None
    engine: str | None
    colour: str | None
    colour_hex: str | None
    wheels: str | None
    interior: str | None
    body_type: str | None
    fuel: str | None
    options: list[Any]
    total_price: Decimal | None
    currency: str | None
    url: str | None

    @field_validator("url")
    @classmethod
    def _web_address_only(cls, value: str | None) -> str | None:
        return web_address(value)  # rows stored before ingest checked it

    @field_validator("colour_hex")
    @classmethod
    def _hex_colour_only(cls, value: str | None) -> str | None:
        return hex_colour_or_none(value)


class SessionOut(BaseModel):
    started_at: datetime
    ended_at: datetime
    channel: str
    events: int
    models: list[str]


class MergeOut(BaseModel):
    id: int
    survivor_id: uuid.UUID
    absorbed_id: uuid.UUID
    merged_at: datetime
    reason: str
    message_id: str | None
    # Set when staff split the merge again (docs/identity.md, undoing a merge).
    split_at: datetime | None = None
    split_reason: str | None = None


class EventOut(BaseModel):
    id: int
    type: str
    name: str | None
    channel: str
    occurred_at: datetime
    properties: dict[str, Any]
    traits: dict[str, Any]


class ModelInterest(BaseModel):
    model: str
    events: int


class ProfileOut(BaseModel):
    id: uuid.UUID
    absorbed_ids: list[uuid.UUID]
    first_seen_at: datetime
    last_seen_at: datetime
    name: str | None
    identifiers: list[IdentifierOut]
    traits: dict[str, Any]
    consents: dict[str, ConsentOut]
    consent_history: list[ConsentOut]
    channels: list[str]
    session_count: int
    sessions: list[SessionOut]
    models_considered: list[ModelInterest]
    configurations: list[ConfigurationOut]
    interest_shares: dict[str, float]
    event_counts: dict[str, int]
    merges: list[MergeOut]
    timeline: list[EventOut]
    timeline_next_offset: int | None


class ProfileSummary(BaseModel):
    id: uuid.UUID
    name: str | None
    email: str | None
    phone: str | None
    postal_code: str | None
    city: str | None
    last_seen_at: datetime
    latest_model: str | None
    latest_colour: str | None
    latest_colour_hex: str | None
    lead_stage: str | None
    plate: str | None = Field(None, description="The car's licence plate, e.g. 12-ABC-3")

    @field_validator("latest_colour_hex")
    @classmethod
    def _hex_colour_only(cls, value: str | None) -> str | None:
        return hex_colour_or_none(value)


class ProfileList(BaseModel):
    query: str
    matched_by: str | None
    results: list[ProfileSummary]
    # A postal code or town typed with the name where nobody of that name is: the results are
    # the name's holders anywhere.
    place_not_found: str | None = None
