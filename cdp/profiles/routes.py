"""The profile API for staff apps: search profiles, read one; for administrators, a person's
full data (GDPR art. 15) and its erasure (art. 17). Bearer API token required; the token's role
decides what it may do."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from cdp.api_answers import error_responses
from cdp.audit.service import record
from cdp.auth.permissions import Permission, allows
from cdp.auth.tokens import TokenInfo
from cdp.config import Settings
from cdp.dealers.visibility import active_at, people_filter, scope_of_token
from cdp.deps import ApiCaller, DbSession, ReadSession, SettingsDep
from cdp.errors import Forbidden, NotFound
from cdp.models import ProfileView, utcnow
from cdp.profiles.erasure import Person, erase, find_person
from cdp.profiles.schemas import ProfileList, ProfileOut
from cdp.profiles.service import get_profile, search_profiles
from cdp.profiles.subject_access import person_data

router = APIRouter(
    prefix="/api/profiles",
    tags=["profiles"],
    responses=error_responses(400, 401, 403, 404, 422, 429),
)
# Far beyond any one person's events (paging never gets near it), and within the 64-bit integer
# the databases take for OFFSET: 2^63 or more failed the request there.
MAX_TIMELINE_OFFSET = 2**31 - 1


def _needs(permission: Permission) -> object:
    async def check(caller: ApiCaller) -> TokenInfo:
        if not allows(caller.role, permission):
            raise Forbidden(
                f"a token with role {caller.role} may not do this", field="Authorization"
            )
        return caller

    return Depends(check)


LookupCaller = Annotated[TokenInfo, _needs(Permission.LOOKUP)]
PrivacyCaller = Annotated[TokenInfo, _needs(Permission.PRIVACY)]


@router.get("", response_model=ProfileList, summary="Find profiles")
def find_profiles(
    session: ReadSession,  # only reads: no BEGIN and COMMIT (cdp/deps.py)
    settings: SettingsDep,
    caller: LookupCaller,
    q: Annotated[
        str,
        Query(
            description=(
                "Email, phone (any usual format), name, postal code, configuration code or "
                "licence plate (any spelling)"
            ),
            max_length=200,
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ProfileList:
    """Customers at any dealer; a dealer's token, with customers not shared across dealers
    (CDP_SHARE_CUSTOMERS_ACROSS_DEALERS=false), finds only people active at its dealer."""
    return search_profiles(
        session, q, settings=settings, limit=limit, active_at=_people(caller, settings)
    )


def _people(caller: TokenInfo, settings: Settings) -> frozenset[int] | None:
    return people_filter(
        scope_of_token(caller.dealer_id), shared=settings.share_customers_across_dealers
    )


@router.get("/{profile_id}", response_model=ProfileOut, summary="Read one profile")
def read_profile(
    session: DbSession,
    settings: SettingsDep,
    caller: LookupCaller,
    profile_id: uuid.UUID,
    timeline_offset: Annotated[int, Query(ge=0, le=MAX_TIMELINE_OFFSET)] = 0,
    timeline_limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ProfileOut:
    """An absorbed profile id answers with the profile that absorbed it."""
    profile = get_profile(
        session, profile_id, timeline_offset=timeline_offset, timeline_limit=timeline_limit
    )
    narrowed = _people(caller, settings)
    if narrowed is not None and not active_at(
        session, [profile.id, *profile.absorbed_ids], narrowed
    ):
        raise NotFound(f"no profile {profile_id}", field="profile_id")
    # Accountability: every read of a person's profile is recorded, API reads included.
    session.add(ProfileView(profile_id=profile.id, api_token_id=caller.id, via="api"))
    record(
        session, "api_read", actor=_token_label(caller), api_token_id=caller.id,
        profile_id=profile.id,
    )  # fmt: skip
    return profile


def _token_label(caller: TokenInfo) -> str:
    return f"API token {caller.name}"


def _person(session: DbSession, profile_id: uuid.UUID) -> Person:
    return find_person(session, str(profile_id))


@router.get("/{profile_id}/data", summary="Everything stored about the person (GDPR art. 15)")
def person_data_export(
    session: DbSession, caller: PrivacyCaller, profile_id: uuid.UUID
) -> dict[str, object]:
    """Every row about the person: profiles, identifiers, traits, consent, events, saved
    configurations, leads, notes, appointments, deliveries, segments and who viewed them."""
    person = _person(session, profile_id)
    data = person_data(session, person, now=utcnow())
    session.add(ProfileView(profile_id=person.profile_id, api_token_id=caller.id, via="api"))
    record(
        session, "subject_access", actor=_token_label(caller), api_token_id=caller.id,
        profile_id=person.profile_id,
    )  # fmt: skip
    return data


class ErasureRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Why, for the record")


class ErasureOut(BaseModel):
    profile_id: uuid.UUID
    erased_at: str
    erased_by: str
    deleted: dict[str, int]


@router.post("/{profile_id}/erasure", summary="Erase everything about the person (GDPR art. 17)")
def erase_person(
    session: DbSession, caller: PrivacyCaller, profile_id: uuid.UUID, body: ErasureRequest
) -> ErasureOut:
    """Deletes the person's profile and every profile merged into it, with all their rows, in one
    transaction; keeps a record of the erasure (no personal data). Cannot be undone."""
    person = _person(session, profile_id)
    erased = erase(
        session, person, erased_by=_token_label(caller), reason=body.reason,
        api_token_id=caller.id,
    )  # fmt: skip
    return ErasureOut(
        profile_id=erased.profile_id,
        erased_at=erased.erased_at.isoformat(),
        erased_by=erased.erased_by,
        deleted=erased.counts,
    )
