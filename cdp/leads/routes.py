"""The leads API: `GET /api/leads`, so a dealer's own systems pull their leads. Bearer API token
with a role that works leads; a token made with `--dealer` reads that dealer's leads only, one
without reads the network's (cdp/dealers/visibility.py decides)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement

from cdp.api_answers import error_responses
from cdp.auth.permissions import Permission, allows
from cdp.auth.tokens import TokenInfo
from cdp.dealers import repository as dealers_repo
from cdp.dealers.visibility import scope_of_token
from cdp.deps import ApiCaller, DbSession
from cdp.errors import Forbidden, InvalidInput
from cdp.identity.identifiers import normalise_email
from cdp.ids import MAX_ROW_ID
from cdp.leads import repository as repo
from cdp.models import LEAD_CHANNELS, LEAD_STAGES, Configuration, Lead

router = APIRouter(
    prefix="/api/leads", tags=["leads"], responses=error_responses(400, 401, 403, 422, 429)
)
MAX_LIMIT = 500


class LeadOut(BaseModel):
    id: int
    profile_id: uuid.UUID
    dealer: str | None = Field(description="The dealer's code; null: the network's queue")
    channel: str = Field(
        description="The channel it came in through, one of: "
        + ", ".join(LEAD_CHANNELS)
        + " (the importer's names for them are on the channels page, /showroom/channels)"
    )
    stage: str
    assigned_to: str | None = Field(description="The salesperson's e-mail address, if assigned")
    model: str | None
    configuration_code: str | None = Field(
        description="The customer's latest saved configuration of the lead's model (else of "
        "any model), if there is one"
    )
    created_at: datetime
    updated_at: datetime


class LeadPage(BaseModel):
    leads: list[LeadOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: done")
    next: str | None = Field(description="The next page's address (same filters), or null")


async def _lead_reader(caller: ApiCaller) -> TokenInfo:
    if not allows(caller.role, Permission.LEADS):
        raise Forbidden(
            f"a token with role {caller.role} may not read leads", field="Authorization"
        )
    return caller


LeadsCaller = Annotated[TokenInfo, Depends(_lead_reader)]


def _cursor(lead: Lead) -> str:
    raw = json.dumps([lead.updated_at.isoformat(), lead.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, lead_id = json.loads(raw)
        when = datetime.fromisoformat(at)
        if (
            not isinstance(lead_id, int)
            or isinstance(lead_id, bool)
            or not 0 < lead_id <= MAX_ROW_ID
            or when.tzinfo is None
        ):
            raise ValueError(cursor)
        return when, lead_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidInput(
            "cursor is not one this API gave: pass next_cursor as it came", field="cursor"
        ) from error


def _configuration_code(configurations: list[Configuration], model: str | None) -> str | None:
    """The lead's configuration: the latest of its model, else the latest of any."""
    if not configurations:
        return None
    wanted = (model or "").strip().lower()
    same = [c for c in configurations if wanted and (c.model or "").strip().lower() == wanted]
    return (same or configurations)[0].code


@router.get("", response_model=LeadPage, summary="List the leads this token may see")
def list_leads(
    session: DbSession,
    caller: LeadsCaller,
    dealer: Annotated[
        str, Query(max_length=40, description="A dealer's code: only its leads")
    ] = "",
    stage: Annotated[str, Query(max_length=40, description="Only leads at this stage")] = "",
    assigned: Annotated[
        str,
        Query(
            max_length=320,
            description="A salesperson's e-mail address, or `none` for unassigned leads",
        ),
    ] = "",
    since: Annotated[
        datetime | None,
        Query(description="Only leads changed at or after this time (ISO 8601; UTC if no zone)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: Annotated[str, Query(max_length=200, description="next_cursor of a page")] = "",
) -> LeadPage:
    """The leads this token may see, the least recently changed first (a `since` pull then
    pages forward through everything changed after it)."""
    scope = scope_of_token(caller.dealer_id)
    conditions: list[ColumnElement[bool]] = []
    code = dealer.strip().upper()
    if code:
        found = dealers_repo.dealers_by_code(session, [code]).get(code)
        if found is None or not scope.sees(found.id):
            raise InvalidInput(f"no dealer {code!r} among this token's dealers", field="dealer")
        conditions.append(Lead.dealer_id == found.id)
    if stage.strip():
        if stage.strip() not in LEAD_STAGES:
            raise InvalidInput(f"stage must be one of {', '.join(LEAD_STAGES)}", field="stage")
        conditions.append(Lead.stage == stage.strip())
    who = assigned.strip()
    if who.lower() == "none":
        conditions.append(Lead.assigned_user_id.is_(None))
    elif who:
        email = normalise_email(who)
        user_id = repo.staff_id_by_email(session, email) if email else None
        if user_id is None:
            raise InvalidInput(
                "assigned must be a staff member's e-mail address or none", field="assigned"
            )
        conditions.append(Lead.assigned_user_id == user_id)
    if since is not None:
        try:
            since_utc = (since if since.tzinfo else since.replace(tzinfo=UTC)).astimezone(UTC)
        except OverflowError as error:  # "0001-01-01T00:00+01:00" is before the calendar
            raise InvalidInput("since is out of range", field="since") from error
        conditions.append(Lead.updated_at >= since_utc)
    rows = repo.lead_feed(
        session, scope=scope, conditions=conditions, after=_after(cursor.strip()), limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    configurations = repo.configurations_of(session, {lead.profile_id for lead, *_ in rows})
    leads = [
        LeadOut(
            id=lead.id,
            profile_id=lead.profile_id,
            dealer=dealer_code,
            channel=lead.channel,
            stage=lead.stage,
            assigned_to=email,
            model=lead.model,
            configuration_code=_configuration_code(
                configurations.get(lead.profile_id, []), lead.model
            ),
            created_at=lead.created_at,
            updated_at=lead.updated_at,
        )
        for lead, dealer_code, email in rows
    ]
    next_cursor = _cursor(rows[-1][0]) if more else None
    next_url = None
    if next_cursor is not None:
        query = {"dealer": dealer, "stage": stage, "assigned": assigned, "limit": str(limit)}
        if since is not None:
            query["since"] = since.isoformat()
        query = {key: value for key, value in query.items() if value}
        next_url = "/api/leads?" + urlencode({**query, "cursor": next_cursor})
    return LeadPage(leads=leads, next_cursor=next_cursor, next=next_url)
