"""Every query the profile views make."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, func, select
from sqlalchemy.orm import Session

from cdp.models import (
    Configuration,
    Consent,
    Event,
    Identity,
    Profile,
    ProfileMerge,
    ProfileTrait,
    Source,
)

NAME_TRAITS = ("first_name", "last_name", "name")


def live_profile(session: Session, profile_id: uuid.UUID) -> Profile | None:
    """The profile, or for an absorbed id the profile that absorbed it."""
    profile = session.get(Profile, profile_id)
    if profile is not None and profile.merged_into_id is not None:
        profile = session.get(Profile, profile.merged_into_id)
    return profile


def absorbed_ids(session: Session, profile_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.scalars(select(Profile.id).where(Profile.merged_into_id == profile_id)))


def identities(session: Session, ids: Sequence[uuid.UUID]) -> Sequence[Identity]:
    return session.scalars(
        select(Identity).where(Identity.profile_id.in_(ids)).order_by(Identity.id)
    ).all()


def traits(session: Session, ids: Sequence[uuid.UUID]) -> Sequence[ProfileTrait]:
    return session.scalars(
        select(ProfileTrait).where(ProfileTrait.profile_id.in_(ids)).order_by(ProfileTrait.name)
    ).all()


def consents(session: Session, ids: Sequence[uuid.UUID]) -> Sequence[Row[Consent, str | None]]:
    return session.execute(
        select(Consent, Source.name)
        .outerjoin(Source, Source.id == Consent.source_id)
        .where(Consent.profile_id.in_(ids))
        .order_by(Consent.stated_at, Consent.id)
    ).all()


def configurations(
    session: Session, ids: Sequence[uuid.UUID]
) -> Sequence[Row[Configuration, str | None]]:
    return session.execute(
        select(Configuration, Source.name)
        .outerjoin(Source, Source.id == Configuration.source_id)
        .where(Configuration.profile_id.in_(ids))
        .order_by(Configuration.saved_at.desc(), Configuration.id.desc())
    ).all()


def merges(session: Session, profile_id: uuid.UUID) -> Sequence[ProfileMerge]:
    return session.scalars(
        select(ProfileMerge)
        .where((ProfileMerge.survivor_id == profile_id) | (ProfileMerge.absorbed_id == profile_id))
        .order_by(ProfileMerge.merged_at)
    ).all()


def event_digest(
    session: Session, ids: Sequence[uuid.UUID]
) -> Sequence[Row[datetime, str, str, str | None, dict[str, Any]]]:
    """Time, channel, name and properties of every event: enough for sessions and interests."""
    return session.execute(
        select(Event.occurred_at, Event.channel, Event.type, Event.name, Event.properties)
        .where(Event.profile_id.in_(ids))
        .order_by(Event.occurred_at)
    ).all()


def timeline(
    session: Session, ids: Sequence[uuid.UUID], *, offset: int, limit: int
) -> Sequence[Event]:
    return session.scalars(
        select(Event)
        .where(Event.profile_id.in_(ids))
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()


def profiles_by_identifier(session: Session, kind: str, value: str) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(Identity.profile_id).where(Identity.kind == kind, Identity.value == value)
        )
    )


def profiles_by_name(session: Session, tokens: Sequence[str], limit: int) -> list[uuid.UUID]:
    """Profiles where every token starts one of the name traits (any order)."""
    query = select(Profile.id).where(Profile.merged_into_id.is_(None))
    for token in tokens:
        escaped = token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(
            Profile.id.in_(
                select(ProfileTrait.profile_id).where(
                    ProfileTrait.name.in_(NAME_TRAITS),
                    ProfileTrait.search_text.like(f"{escaped}%", escape="\\")
                    | ProfileTrait.search_text.like(f"% {escaped}%", escape="\\"),
                )
            )
        )
    return list(session.scalars(query.order_by(Profile.last_seen_at.desc()).limit(limit)))


def profiles_by_postal_code(session: Session, folded: str, limit: int) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(ProfileTrait.profile_id)
            .where(
                ProfileTrait.name == "postal_code",
                func.replace(ProfileTrait.search_text, " ", "") == folded.replace(" ", ""),
            )
            .limit(limit)
        )
    )


def summaries(session: Session, ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """Name, contact details and latest configuration of each profile, in the given order."""
    if not ids:
        return []
    profiles = {p.id: p for p in session.scalars(select(Profile).where(Profile.id.in_(ids)))}
    wanted = ("first_name", "last_name", "name", "email", "phone", "postal_code")
    trait_rows = session.execute(
        select(ProfileTrait.profile_id, ProfileTrait.name, ProfileTrait.value).where(
            ProfileTrait.profile_id.in_(ids), ProfileTrait.name.in_(wanted)
        )
    )
    by_profile: dict[uuid.UUID, dict[str, Any]] = {}
    for pid, name, value in trait_rows:
        by_profile.setdefault(pid, {})[name] = value
    latest = (
        select(Configuration.profile_id, func.max(Configuration.saved_at).label("saved_at"))
        .where(Configuration.profile_id.in_(ids))
        .group_by(Configuration.profile_id)
        .subquery()
    )
    configs: dict[uuid.UUID, tuple[str | None, str | None]] = {}
    for pid, model, colour in session.execute(
        select(Configuration.profile_id, Configuration.model, Configuration.colour).join(
            latest,
            and_(
                latest.c.profile_id == Configuration.profile_id,
                latest.c.saved_at == Configuration.saved_at,
            ),
        )
    ):
        configs[pid] = (model, colour)
    out = []
    for pid in ids:
        profile = profiles.get(pid)
        if profile is None:
            continue
        t = by_profile.get(pid, {})
        out.append(
            {
                "id": pid,
                "traits": t,
                "last_seen_at": profile.last_seen_at,
                "latest_model": configs.get(pid, (None, None))[0],
                "latest_colour": configs.get(pid, (None, None))[1],
            }
        )
    return out
