"""The read API for staff apps: search profiles, read one. Bearer API token required."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from cdp.deps import ApiCaller, DbSession, SettingsDep
from cdp.models import ProfileView
from cdp.profiles.schemas import ProfileList, ProfileOut
from cdp.profiles.service import get_profile, search_profiles

router = APIRouter(prefix="/api/profiles", tags=["profiles"])


@router.get("", response_model=ProfileList, summary="Find profiles")
def find_profiles(
    session: DbSession,
    settings: SettingsDep,
    _caller: ApiCaller,
    q: Annotated[
        str,
        Query(
            description="Email, phone (any usual format), name, postal code or configuration code",
            max_length=200,
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ProfileList:
    return search_profiles(session, q, settings=settings, limit=limit)


@router.get("/{profile_id}", response_model=ProfileOut, summary="Read one profile")
def read_profile(
    session: DbSession,
    caller: ApiCaller,
    profile_id: uuid.UUID,
    timeline_offset: Annotated[int, Query(ge=0)] = 0,
    timeline_limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ProfileOut:
    """An absorbed profile id answers with the profile that absorbed it."""
    profile = get_profile(
        session, profile_id, timeline_offset=timeline_offset, timeline_limit=timeline_limit
    )
    # Accountability: every read of a person's profile is recorded, API reads included.
    session.add(ProfileView(profile_id=profile.id, api_token_id=caller.id, via="api"))
    return profile
