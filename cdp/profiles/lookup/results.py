"""The result lines of a lookup: what the search box and GET /api/profiles show of each customer
found, read in one statement for the ids found, in their order."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.models import Profile, ProfileSearch
from cdp.sql import among


@dataclass(frozen=True, slots=True)
class LookupResult:
    profile_id: uuid.UUID
    name: str | None
    email: str | None
    phone: str | None
    postal_code: str | None
    city: str | None
    latest_model: str | None
    latest_colour: str | None
    latest_colour_hex: str | None
    lead_stage: str | None
    last_seen_at: datetime
    plate: str | None = None


@dataclass(frozen=True, slots=True)
class Lookup:
    query: str
    matched_by: str | None
    results: list[LookupResult]


def _result(pid: uuid.UUID, *fields: Any) -> LookupResult:
    return LookupResult(pid, *fields)


def result_lines(session: Session, ids: list[uuid.UUID]) -> list[LookupResult]:
    if not ids:
        return []
    rows = {
        row[0]: row
        for row in session.execute(
            select(
                ProfileSearch.profile_id,
                ProfileSearch.name,
                ProfileSearch.email,
                ProfileSearch.phone,
                ProfileSearch.postal_code,
                ProfileSearch.city,
                ProfileSearch.latest_model,
                ProfileSearch.latest_colour,
                ProfileSearch.latest_colour_hex,
                ProfileSearch.lead_stage,
                Profile.last_seen_at,
                ProfileSearch.plate,
            )
            .join(Profile, Profile.id == ProfileSearch.profile_id)
            .where(among(session, ProfileSearch.profile_id, ids))
        )
    }
    missing = [pid for pid in ids if pid not in rows]
    last_seen_only: dict[uuid.UUID, datetime] = {}
    if missing:
        for pid, seen in session.execute(
            select(Profile.id, Profile.last_seen_at).where(among(session, Profile.id, missing))
        ):
            last_seen_only[pid] = seen
    results = []
    for pid in ids:
        if pid in rows:
            results.append(_result(*rows[pid]))
        elif pid in last_seen_only:  # an anonymous profile found by its configuration code
            results.append(_result(pid, *([None] * 9), last_seen_only[pid]))
    return results
