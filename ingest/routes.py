"""The collection API: /v1/identify, /v1/track, ... as the Segment Tracking API defines them."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from cdp.auth.service import SourceCache, normalise_origin
from cdp.config import Settings
from cdp.db import session_scope
from cdp.errors import InvalidInput
from ingest.schemas import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    IngestResponse,
    Message,
)
from ingest.service import IngestResult, ingest

router = APIRouter(prefix="/v1", tags=["collection (Segment Tracking API)"])

_RETRYABLE_SQLSTATES = {"40001", "40P01", "23505"}  # serialization, deadlock, unique race


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def _error(
    status: int,
    error: str,
    detail: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return _json(
        status, {"success": False, "error": error, "field": field, "detail": detail}, headers
    )


def _basic_user(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it exceeds `limit` (a huge upload is not buffered)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _retryable(error: DBAPIError) -> bool:
    code = getattr(error.orig, "sqlstate", None)
    return code in _RETRYABLE_SQLSTATES or "database is locked" in str(error.orig)


def _store(
    factory: sessionmaker[Session],
    cache: SourceCache,
    settings: Settings,
    *,
    write_key: str,
    origin: str | None,
    messages: list[Any],
    endpoint: str,
    check_size: bool,
    defaults: dict[str, Any] | None,
) -> Response | IngestResult:
    source = cache.lookup(factory, write_key)
    if source is None:
        return _error(401, "unauthorized", "unknown or inactive write key", "writeKey")
    if origin is not None and origin not in source.origins:
        return _error(
            403, "forbidden", f"origin {origin} is not registered for this source", "Origin"
        )
    for attempt in range(5):
        try:
            with session_scope(factory) as session:
                return ingest(
                    session,
                    messages,
                    source=source,
                    endpoint=endpoint,
                    received_at=datetime.now(UTC),
                    phone_region=settings.default_phone_region,
                    check_size=check_size,
                    defaults=defaults,
                )
        except DBAPIError as error:
            if attempt == 4 or not _retryable(error):
                raise
    raise AssertionError("unreachable")


async def _collect(request: Request, endpoint: str) -> Response:
    is_batch = endpoint == "batch"
    limit = MAX_BATCH_BYTES if is_batch else MAX_MESSAGE_BYTES
    raw_origin = request.headers.get("origin")
    origin = None
    if raw_origin and raw_origin != "null":
        try:
            origin = normalise_origin(raw_origin)
        except InvalidInput:
            return _error(403, "forbidden", f"origin {raw_origin!r} is not allowed", "Origin")
    cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else None

    body = await _read_body(request, limit)
    if body is None:
        what = "batch request" if is_batch else "message"
        return _error(
            413, "payload too large", f"the limit is {limit} bytes per {what}", None, cors
        )
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return _error(400, "malformed JSON", str(error), None, cors)
    if not isinstance(data, dict):
        return _error(400, "invalid request", "the body must be a JSON object", None, cors)

    write_key = _basic_user(request) or data.get("writeKey")
    if not isinstance(write_key, str) or not write_key:
        return _error(
            401,
            "unauthorized",
            "send the source's write key as the HTTP Basic user name",
            "writeKey",
            cors,
        )

    defaults: dict[str, Any] | None = None
    if is_batch:
        messages = data.get("batch")
        if not isinstance(messages, list):
            return _error(400, "invalid request", "batch must be a list of messages", "batch", cors)
        defaults = {key: data.get(key) for key in ("context", "integrations", "sentAt")}
    else:
        data.pop("writeKey", None)
        messages = [{**data, "type": endpoint}]

    state = request.app.state
    outcome = await run_in_threadpool(
        _store,
        state.sessionmaker,
        state.sources,
        state.settings,
        write_key=write_key,
        origin=origin,
        messages=messages,
        endpoint=endpoint,
        check_size=is_batch and len(body) > MAX_MESSAGE_BYTES,
        defaults=defaults,
    )
    if isinstance(outcome, Response):
        if cors and outcome.status_code != 403:
            outcome.headers.update(cors)
        return outcome
    assert isinstance(outcome, IngestResult)
    response = IngestResponse(
        success=not outcome.rejected or outcome.accepted > 0,
        accepted=outcome.accepted,
        duplicates=outcome.duplicates,
        rejected=outcome.rejected,
    )
    if outcome.rejected and outcome.accepted == 0:
        first = outcome.rejected[0]
        body_out = {
            "success": False,
            "error": "invalid message" if not is_batch else "no valid message in the batch",
            "field": first.field,
            "detail": first.reason,
            "rejected": [r.model_dump() for r in outcome.rejected],
        }
        return _json(400, body_out, cors)
    return _json(200, response.model_dump(), cors)


_MESSAGE_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": Message.model_json_schema()}},
    },
    "responses": {"200": {"description": "Stored (committed) or recognised as a duplicate"}},
}


def _register(endpoint: str) -> None:
    async def handler(request: Request) -> Response:
        return await _collect(request, endpoint)

    handler.__name__ = f"collect_{endpoint}"
    router.add_api_route(
        f"/{endpoint}",
        handler,
        methods=["POST"],
        summary=f"Segment {endpoint} call",
        openapi_extra=_MESSAGE_SCHEMA,
        response_model=None,
    )


for _endpoint in (*MESSAGE_TYPES, "batch"):
    _register(_endpoint)


@router.options("/{endpoint}", include_in_schema=False)
async def preflight(request: Request, endpoint: str) -> Response:
    """CORS preflight: allowed for origins registered on some source; each POST checks its own."""
    raw_origin = request.headers.get("origin")
    try:
        origin = normalise_origin(raw_origin) if raw_origin else None
    except InvalidInput:
        origin = None
    state = request.app.state

    def allowed() -> bool:
        with session_scope(state.sessionmaker) as session:
            return origin in state.sources.all_origins(session)

    if origin is None or not await run_in_threadpool(allowed):
        return Response(status_code=403)
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type, Authorization",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        },
    )
