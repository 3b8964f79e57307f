"""The profile as staff and staff apps see it: assembled from what identity resolution stored."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from cdp.config import Settings
from cdp.errors import InvalidInput, NotFound
from cdp.identity.identifiers import normalise_code, normalise_email, normalise_phone
from cdp.profiles import repository as repo
from cdp.profiles.schemas import (
    ConfigurationOut,
    ConsentOut,
    EventOut,
    IdentifierOut,
    MergeOut,
    ModelInterest,
    ProfileList,
    ProfileOut,
    ProfileSummary,
    SessionOut,
)
from cdp.text import fold
from ingest.taxonomy import INTERESTS, interest_of

SESSION_GAP = timedelta(minutes=30)
_POSTAL_CODE = re.compile(r"^(\d{4}\s?[a-z]{2}|\d{4})$")  # NL "1234 AB", BE "1000"
_CODE_LIKE = re.compile(r"^[A-Z0-9][A-Z0-9\-]{3,}$")


def display_name(traits: dict[str, Any]) -> str | None:
    first, last = traits.get("first_name"), traits.get("last_name")
    parts = [str(p).strip() for p in (first, last) if isinstance(p, str) and p.strip()]
    if parts:
        return " ".join(parts)
    name = traits.get("name")
    return name.strip() if isinstance(name, str) and name.strip() else None


def _model_of(properties: dict[str, Any], name: str | None) -> str | None:
    model = properties.get("model")
    if isinstance(model, str) and model.strip():
        return model.strip()
    if name in ("Option Selected", "Option Removed") and properties.get("category") == "model":
        label = properties.get("label") or properties.get("code")
        return str(label) if label else None
    return None


def get_profile(
    session: Session,
    profile_id: uuid.UUID,
    *,
    timeline_offset: int = 0,
    timeline_limit: int = 100,
) -> ProfileOut:
    profile = repo.live_profile(session, profile_id)
    if profile is None:
        raise NotFound(f"no profile {profile_id}", field="profile_id")
    absorbed = repo.absorbed_ids(session, profile.id)
    ids = [profile.id, *absorbed]  # events a racing writer left on an absorbed id count too

    traits = {t.name: t.value for t in repo.traits(session, ids) if t.profile_id == profile.id}
    consent_rows = repo.consents(session, ids)
    history = [
        ConsentOut(
            purpose=c.purpose, status=c.status, stated_at=c.stated_at, wording=c.wording, source=src
        )
        for c, src in consent_rows
    ]
    in_force: dict[str, ConsentOut] = {}
    for statement in history:  # ordered by time: the last one per purpose wins
        in_force[statement.purpose] = statement

    digest = repo.event_digest(session, ids)
    sessions: list[SessionOut] = []
    interest_counts: Counter[str] = Counter()
    model_counts: Counter[str] = Counter()
    channels: list[str] = []
    current: dict[str, Any] | None = None
    for occurred_at, channel, _type, name, properties in digest:
        if channel not in channels:
            channels.append(channel)
        props = properties or {}
        model = _model_of(props, name)
        if model:
            model_counts[model] += 1
        interest = interest_of(name or "", props)
        if interest:
            interest_counts[interest] += 1
        if (
            current is None
            or occurred_at - current["ended_at"] > SESSION_GAP
            or channel != current["channel"]
        ):
            current = {
                "started_at": occurred_at,
                "ended_at": occurred_at,
                "channel": channel,
                "events": 0,
                "models": [],
            }
            sessions.append(current)  # type: ignore[arg-type]
        current["ended_at"] = occurred_at
        current["events"] += 1
        if model and model not in current["models"]:
            current["models"].append(model)
    total_interest = sum(interest_counts.values())
    shares = {
        key: round(interest_counts[key] / total_interest, 3) if total_interest else 0.0
        for key in INTERESTS
    }
    session_models = [SessionOut(**s) for s in reversed(sessions)]  # type: ignore[arg-type]

    events = repo.timeline(session, ids, offset=timeline_offset, limit=timeline_limit + 1)
    more = len(events) > timeline_limit
    events = events[:timeline_limit]

    return ProfileOut(
        id=profile.id,
        absorbed_ids=absorbed,
        first_seen_at=profile.first_seen_at,
        last_seen_at=profile.last_seen_at,
        name=display_name(traits),
        identifiers=[
            IdentifierOut(kind=i.kind, value=i.value, first_seen_at=i.first_seen_at)
            for i in repo.identities(session, ids)
        ],
        traits=traits,
        consents=in_force,
        consent_history=history,
        channels=channels,
        session_count=len(sessions),
        sessions=session_models[:50],
        models_considered=[ModelInterest(model=m, events=n) for m, n in model_counts.most_common()],
        configurations=[
            ConfigurationOut(
                code=c.code,
                channel=c.channel,
                source=src,
                saved_at=c.saved_at,
                model=c.model,
                trim=c.trim,
                engine=c.engine,
                colour=c.colour,
                colour_hex=c.colour_hex,
                wheels=c.wheels,
                interior=c.interior,
                options=c.options,
                total_price=c.total_price,
                currency=c.currency,
                url=c.url,
            )
            for c, src in repo.configurations(session, ids)
        ],
        interest_shares=shares,
        merges=[
            MergeOut(
                survivor_id=m.survivor_id,
                absorbed_id=m.absorbed_id,
                merged_at=m.merged_at,
                reason=m.reason,
                message_id=m.message_id,
            )
            for m in repo.merges(session, profile.id)
        ],
        timeline=[
            EventOut(
                id=e.id,
                type=e.type,
                name=e.name,
                channel=e.channel,
                occurred_at=e.occurred_at,
                properties=e.properties,
                traits=e.traits,
            )
            for e in events
        ],
        timeline_next_offset=timeline_offset + timeline_limit if more else None,
    )


def search_profiles(
    session: Session, query: str, *, settings: Settings, limit: int = 20
) -> ProfileList:
    """Find profiles by email, phone (any usual format), configuration code, postal code or name."""
    q = query.strip()
    if not q:
        raise InvalidInput("q must not be empty", field="q")
    if len(q) > 200:
        raise InvalidInput("q must be at most 200 characters", field="q")
    ids: list[uuid.UUID] = []
    matched_by: str | None = None
    if "@" in q:
        email = normalise_email(q)
        if email:
            ids, matched_by = repo.profiles_by_identifier(session, "email", email), "email"
    if not ids and sum(ch.isdigit() for ch in q) >= 6:
        phone = normalise_phone(q, settings.default_phone_region)
        if phone:
            ids, matched_by = repo.profiles_by_identifier(session, "phone", phone), "phone"
    if not ids and _CODE_LIKE.match(normalise_code(q)):
        found = repo.profiles_by_identifier(session, "config_code", normalise_code(q))
        if found:
            ids, matched_by = found, "configuration code"
    folded = fold(q)
    if not ids and _POSTAL_CODE.match(folded):
        found = repo.profiles_by_postal_code(session, folded, limit)
        if found:
            ids, matched_by = found, "postal code"
    if not ids:
        tokens = [t for t in re.split(r"[\s,]+", folded) if t]
        if tokens and "@" not in q:
            found = repo.profiles_by_name(session, tokens, limit)
            if found:
                ids, matched_by = found, "name"
    # Identifiers always point at live profiles; de-duplicate while keeping the order.
    ids = list(dict.fromkeys(ids))[:limit]
    results = []
    for row in repo.summaries(session, ids):
        traits = row["traits"]
        results.append(
            ProfileSummary(
                id=row["id"],
                name=display_name(traits),
                email=traits.get("email"),
                phone=traits.get("phone"),
                postal_code=traits.get("postal_code"),
                last_seen_at=row["last_seen_at"],
                latest_model=row["latest_model"],
                latest_colour=row["latest_colour"],
            )
        )
    return ProfileList(query=q, matched_by=matched_by if results else None, results=results)
