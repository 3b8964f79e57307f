"""The profile as staff and staff apps see it: assembled from what identity resolution stored."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from cdp.config import Settings
from cdp.errors import InvalidInput, NotFound
from cdp.profiles import repository as repo
from cdp.profiles.erasure import erasure_of
from cdp.profiles.lookup import lookup
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
from cdp.taxonomy import INTERESTS, interest_of

SESSION_GAP = timedelta(minutes=30)


def display_name(traits: dict[str, Any]) -> str | None:
    first, last = traits.get("first_name"), traits.get("last_name")
    parts = [str(p).strip() for p in (first, last) if isinstance(p, str) and p.strip()]
    if parts:
        return " ".join(parts)
    name = traits.get("name")
    return name.strip() if isinstance(name, str) and name.strip() else None


_MODEL_EVENTS = frozenset(
    {
        "Configuration Started",
        "Configuration Step Viewed",
        "Option Selected",
        "Option Removed",
        "Configuration Saved",
        "Configuration Loaded",
        "Finance Calculated",
        "Quote Requested",
        "Test Drive Requested",
    }
)


def _model_of(properties: dict[str, Any], name: str | None) -> str | None:
    """The model a configurator event is about (not, say, a trade-in car's model)."""
    if name not in _MODEL_EVENTS:
        return None
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
        erased = erasure_of(session, profile_id)
        if erased is not None:
            raise NotFound(
                f"profile {profile_id} was erased on {erased.erased_at:%Y-%m-%d} on request",
                field="profile_id",
            )
        raise NotFound(f"no profile {profile_id}", field="profile_id")
    absorbed = repo.absorbed_ids(session, profile.id)
    ids = [profile.id, *absorbed]  # events a racing writer left on an absorbed id count too

    traits = {t.name: t.value for t in repo.traits(session, ids) if t.profile_id == profile.id}
    consent_rows = repo.consents(session, ids)
    history = [
        ConsentOut(
            purpose=c.purpose,
            status=c.status,
            stated_at=c.stated_at,
            wording=c.wording,
            source=src,
            address=c.address,
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
    event_counts: Counter[str] = Counter()
    channels: list[str] = []
    current: dict[str, Any] | None = None
    for occurred_at, channel, _type, name, properties in digest:
        if channel not in channels:
            channels.append(channel)
        props = properties or {}
        if name:
            event_counts[name] += 1
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
                body_type=c.body_type,
                fuel=c.fuel,
                options=c.options,
                total_price=c.total_price,
                currency=c.currency,
                url=c.url,
            )
            for c, src in repo.configurations(session, ids)
        ],
        interest_shares=shares,
        event_counts=dict(event_counts.most_common()),
        merges=[
            MergeOut(
                id=m.id,
                survivor_id=m.survivor_id,
                absorbed_id=m.absorbed_id,
                merged_at=m.merged_at,
                reason=m.reason,
                message_id=m.message_id,
                split_at=m.split_at,
                split_reason=m.split_reason,
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
    session: Session,
    query: str,
    *,
    settings: Settings,
    limit: int = 20,
    active_at: frozenset[int] | None = None,
) -> ProfileList:
    """Find profiles by email, phone (any usual format), configuration code, licence plate,
    postal code or name (`active_at`: only people with activity at these dealers)."""
    if not query.strip():
        raise InvalidInput("q must not be empty", field="q")
    found = lookup(
        session,
        query,
        phone_region=settings.default_phone_region,
        limit=limit,
        active_at=active_at,
    )
    return ProfileList(
        query=found.query,
        matched_by=found.matched_by,
        place_not_found=found.place_not_found,
        results=[
            ProfileSummary(
                id=r.profile_id,
                name=r.name,
                email=r.email,
                phone=r.phone,
                postal_code=r.postal_code,
                city=r.city,
                last_seen_at=r.last_seen_at,
                latest_model=r.latest_model,
                latest_colour=r.latest_colour,
                latest_colour_hex=r.latest_colour_hex,
                lead_stage=r.lead_stage,
                plate=r.plate,
            )
            for r in found.results
        ],
    )
