"""The collection API: /v1/identify, /v1/track, ... as the Segment Tracking API defines them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Security
from fastapi.responses import Response
from fastapi.security import HTTPBasic
from starlette.concurrency import run_in_threadpool

from cdp.api_answers import error_responses
from cdp.auth.service import normalise_origin
from cdp.db import session_scope
from cdp.errors import InvalidInput
from cdp.ingestion.schemas import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_MESSAGE_DEPTH,
    MESSAGE_TYPES,
    IngestResponse,
    Message,
)
from cdp.ingestion.service import Call, IngestResult
from cdp.ingestion.validation import too_deep_or_oversize
from cdp.json_exact import PARSER_MAX_DEPTH, has_long_digits
from cdp.json_exact import loads as json_loads_exact
from cdp.rate_limits import RateLimiter
from ingest.answers import (
    CollectionError,
    error_answer,
    error_body,
    json_answer,
    rate_limited,
)
from ingest.body import BadEncoding, basic_user, read_body
from ingest.group_commit import (
    GROUP_COMMIT,
    GroupCommit,
    committer_of,
)
from ingest.storing import store


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    committer: GroupCommit | None = getattr(app.state, "group_commit", None)
    if committer is not None and committer.loop is asyncio.get_running_loop():
        await committer.drain()  # before the app's own lifespan disposes of the engine


router = APIRouter(prefix="/v1", tags=["collection (Segment Tracking API)"], lifespan=_lifespan)


async def collect(request: Request, endpoint: str) -> Response:
    is_batch = endpoint == "batch"
    limit = MAX_BATCH_BYTES if is_batch else MAX_MESSAGE_BYTES
    raw_origin = request.headers.get("origin")
    if request.headers.get("sec-fetch-site") == "same-origin":
        # A page of this server posting to it (the API docs' "Try it out") is not another
        # website: only those must be registered on the source. Browsers set Sec-Fetch-Site
        # themselves and no page script can; a client outside a browser may leave out Origin
        # anyway.
        raw_origin = None
    origin = None
    if raw_origin == "null":
        # A browser page with no origin of its own (a sandboxed frame, a file): any website can
        # make one, and its text/plain posts need no preflight, so it is refused like theirs.
        return error_answer(403, "forbidden", "origin null is not allowed", "Origin")
    if raw_origin:
        try:
            origin = normalise_origin(raw_origin)
        except InvalidInput:
            return error_answer(403, "forbidden", f"origin {raw_origin!r} is not allowed", "Origin")
    cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else None
    # Over its write key's rate limit, a call is answered before its body is read. A key sent
    # in the body (analytics.js does) is counted once the body, within its size limit, is read.
    limits: RateLimiter = request.app.state.write_key_limits
    header_key = basic_user(request)
    if header_key is not None and (wait := limits.take(header_key)) is not None:
        return rate_limited(wait, limits.rate, cors)

    try:
        body = await read_body(request, limit)
    except BadEncoding as error:
        return error_answer(400, "invalid request", str(error), "Content-Encoding", cors)
    if body is None:
        what = "batch request" if is_batch else "message"
        return error_answer(
            413, "payload too large", f"the limit is {limit} bytes per {what}", None, cors
        )
    long_digits = has_long_digits(body)
    try:
        # Exact integers past 64 bits: a numeric userId must not be rounded into another's.
        data = orjson.loads(body) if not long_digits else json_loads_exact(body)
    except orjson.JSONDecodeError as error:
        if str(error).startswith("depth limit exceeded"):
            detail = (
                f"the body is nested more than {PARSER_MAX_DEPTH} levels deep, which is not "
                f"read; a message may be nested at most {MAX_MESSAGE_DEPTH} levels"
            )
            return error_answer(400, "invalid request", detail, None, cors)
        return error_answer(400, "malformed JSON", str(error), None, cors)
    if not isinstance(data, dict):
        return error_answer(400, "invalid request", "the body must be a JSON object", None, cors)

    write_key = header_key or data.get("writeKey")
    if not isinstance(write_key, str) or not write_key:
        return error_answer(
            401,
            "unauthorized",
            "send the source's write key as the HTTP Basic user name",
            "writeKey",
            cors,
        )
    if header_key is None and (wait := limits.take(write_key)) is not None:
        return rate_limited(wait, limits.rate, cors)

    defaults: dict[str, Any] | None = None
    if is_batch:
        messages = data.get("batch")
        if not isinstance(messages, list):
            return error_answer(
                400, "invalid request", "batch must be a list of messages", "batch", cors
            )
        defaults = {key: data.get(key) for key in ("context", "integrations", "sentAt")}
        # Merged into every message: nested too deep, it would make each one so.
        if (problem := too_deep_or_oversize(defaults)) is not None:
            field, reason = problem
            return error_answer(400, "invalid request", reason, field, cors)
    else:
        data.pop("writeKey", None)
        messages = [{**data, "type": endpoint}]

    check_size = is_batch and len(body) > MAX_MESSAGE_BYTES
    call = Call(
        messages,
        endpoint,
        check_size=check_size,
        # Each message is measured when one could be nested too deep (or hold an integer
        # orjson cannot write): a body with fewer objects and arrays than the limit cannot.
        check_depth=long_digits
        or (not check_size and body.count(b"{") + body.count(b"[") > MAX_MESSAGE_DEPTH),
        defaults=defaults,
        check_nul=b"\\u0000" in body,  # JSON can carry a NUL only as this escape
    )
    outcome: Response | IngestResult
    if GROUP_COMMIT:
        answer = committer_of(request.app).submit(write_key, origin, call)
        if answer is None:
            return error_answer(
                503,
                "busy",
                "too many messages are waiting to be stored; try again shortly",
                None,
                {**(cors or {}), "Retry-After": "1"},
            )
        outcome = await answer
    else:
        state = request.app.state
        stored = await run_in_threadpool(
            store,
            state.sessionmaker,
            state.sources,
            state.settings,
            write_key=write_key,
            origin=origin,
            calls=[call],
        )
        outcome = stored if isinstance(stored, Response) else stored[0]
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
        refused = "invalid message" if not is_batch else "no valid message in the batch"
        body_out = {
            **error_body(refused, first.reason, first.field),
            "rejected": [r.model_dump() for r in outcome.rejected],
        }
        return json_answer(400, body_out, cors)
    return json_answer(200, response.model_dump(), cors)


_MESSAGE_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": Message.model_json_schema()}},
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": IngestResponse,
        "description": "Stored (committed) or recognised as a duplicate; in a batch, the "
        "invalid messages listed in `rejected`",
    },
    **error_responses(400, 401, 403, 413, 429, 503, model=CollectionError),
}


# For the API documentation (/docs) only: POSTs take CollectionFastPath, which reads the key
# itself (also from the body's writeKey).
_WRITE_KEY = HTTPBasic(
    auto_error=False,
    scheme_name="writeKey",
    description="The source's write key as the user name, with an empty password.",
)


def _register(endpoint: str) -> None:
    async def handler(request: Request) -> Response:
        return await collect(request, endpoint)

    handler.__name__ = f"collect_{endpoint}"
    router.add_api_route(
        f"/{endpoint}",
        handler,
        methods=["POST"],
        summary=f"Segment {endpoint} call",
        openapi_extra=_MESSAGE_SCHEMA,
        response_model=None,
        responses=_RESPONSES,
        dependencies=[Security(_WRITE_KEY)],
    )
    # analytics.js posts to one-letter paths (/v1/t, /v1/i, ..., /v1/b for its batching mode).
    router.add_api_route(
        f"/{endpoint[0]}",
        handler,
        methods=["POST"],
        name=f"collect_{endpoint}_short",
        include_in_schema=False,
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
            # X-Retry-Count: analytics.js sends it when it retries a delivery.
            "Access-Control-Allow-Headers": "Content-Type, Authorization, X-Retry-Count",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        },
    )
