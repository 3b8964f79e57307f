"""POST /v1/leads/adf: leads in the Auto-lead Data Format, from marketplaces, importers and the
dealer CRMs that forward them (docs/adf.md). The source's write key is the HTTP Basic user name,
as for the rest of the collection API; the body is the XML (or text holding it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fastapi.security import HTTPBasic
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from cdp.adf.delivery_loop import DeliveryLoop
from cdp.adf.parse import MAX_BYTES
from cdp.adf.service import ProspectOutcome, import_document
from cdp.api_answers import error_responses
from cdp.auth.service import SourceCache
from cdp.config import Settings
from cdp.db import session_scope
from cdp.rate_limits import RateLimiter
from ingest.answers import (
    CollectionError,
    error_answer,
    error_body,
    json_answer,
    rate_limited,
    unauthorized,
)
from ingest.body import BadEncoding, basic_user, read_body


@asynccontextmanager
async def _deliveries(app: FastAPI) -> AsyncIterator[None]:
    """Each server process sends new leads to dealers' CRMs in the background."""
    every = app.state.settings.adf_delivery_seconds
    loop = DeliveryLoop(app.state.sessionmaker, every=every)
    if every > 0:
        loop.start()
    try:
        yield
    finally:
        await loop.stop()


router = APIRouter(prefix="/v1", tags=["leads (ADF)"], lifespan=_deliveries)

_WRITE_KEY = HTTPBasic(
    auto_error=False,
    scheme_name="writeKey",
    description="The source's write key as the user name, with an empty password.",
)


class ProspectAnswer(BaseModel):
    status: str = Field(description="created, duplicate (a resend of a known lead) or refused")
    name: str | None = Field(default=None, description="The customer's name as sent")
    profile_id: str | None = Field(default=None, description="The customer's profile")
    reason: str | None = Field(default=None, description="Why it was refused")


class AdfAnswer(BaseModel):
    success: bool
    prospects: list[ProspectAnswer]


def _answer(outcome: ProspectOutcome) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "name": outcome.name,
        "profile_id": str(outcome.profile_id) if outcome.profile_id else None,
        "reason": outcome.reason,
    }


def _store(
    factory: sessionmaker[Session], cache: SourceCache, settings: Settings, key: str, body: bytes
) -> list[ProspectOutcome] | None:
    cached = cache.lookup(factory, key)
    if cached is None:
        return None
    with session_scope(factory) as session:
        source = cache.current(session, key, cached)
        if source is None:
            return None
        return import_document(
            session,
            body,
            source=source,
            received_at=datetime.now(UTC),
            phone_region=settings.default_phone_region,
            rules=settings.identity_rules(),
        )


@router.post(
    "/leads/adf",
    summary="Leads in ADF (Auto-lead Data Format) XML",
    response_model=AdfAnswer,
    responses={
        200: {"description": "Every prospect stored or recognised as a resend"},
        **error_responses(400, 401, 413, 429, model=CollectionError),
    },
    dependencies=[Security(_WRITE_KEY)],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/xml": {"schema": {"type": "string"}}},
        }
    },
)
async def receive_adf(request: Request) -> Response:
    """One ADF document (or a text, such as an e-mail body, holding one or more). Each prospect
    becomes a profile, a configuration and a lead, routed like any other. A document that
    cannot be a lead answers 400 with the reason and is kept in the quarantine."""
    key = basic_user(request)
    if not key:
        return error_answer(
            401,
            "unauthorized",
            "send the source's write key as the HTTP Basic user name",
            "writeKey",
        )
    limits: RateLimiter = request.app.state.write_key_limits
    if (wait := limits.take(key)) is not None:
        return rate_limited(wait, limits.rate, None)
    try:
        body = await read_body(request, MAX_BYTES)
    except BadEncoding as error:
        return error_answer(400, "invalid request", str(error), "Content-Encoding")
    if body is None:
        return error_answer(413, "payload too large", f"the limit is {MAX_BYTES} bytes", None)
    if not body.strip():
        return error_answer(400, "invalid request", "the body is empty: send the ADF XML", None)
    state = request.app.state
    outcomes = await run_in_threadpool(
        _store, state.sessionmaker, state.sources, state.settings, key, body
    )
    if outcomes is None:
        return unauthorized()
    prospects = [_answer(o) for o in outcomes]
    if all(o.status == "refused" for o in outcomes):
        first = outcomes[0].reason or "not a lead"
        return json_answer(400, {**error_body("not a lead", first, None), "prospects": prospects})
    return json_answer(200, {"success": True, "prospects": prospects})
