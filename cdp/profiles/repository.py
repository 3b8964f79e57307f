"""Every query the profile views make."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from cdp.models import (
    Configuration,
    Consent,
    Event,
    Identity,
    Profile,
    ProfileMerge,
    ProfileSearch,
    ProfileTrait,
    Source,
)


def plate_of(session: Session, profile_id: uuid.UUID) -> str | None:
    """The customer's licence plate as lookup finds it (canonical), if any."""
    return session.scalar(select(ProfileSearch.plate).where(ProfileSearch.profile_id == profile_id))


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


def configuration_properties(
    session: Session, ids: Sequence[uuid.UUID]
) -> dict[str, dict[str, Any]]:
    """What each saved configuration's Configuration Saved event said, by code (the latest save
    of a code wins): the choices' catalogue codes and the configuration it was based on live
    there, not in the configuration row."""
    rows = session.execute(
        select(Configuration.code, Event.properties)
        .join(Event, Event.id == Configuration.event_id)
        .where(Configuration.profile_id.in_(ids))
        .order_by(Configuration.saved_at, Configuration.id)
    ).all()
    return {code: properties if isinstance(properties, dict) else {} for code, properties in rows}
