"""The collection API: /v1/identify, /v1/track, ... as the Segment Tracking API defines them."""

from __future__ import annotations

import asyncio
import base64
import binascii
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Security
from fastapi.responses import Response
from fastapi.security import HTTPBasic
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from cdp.auth.service import SourceCache, normalise_origin
from cdp.config import Settings
from cdp.db import session_scope
from cdp.errors import InvalidInput
from cdp.identity.service import ConcurrentMerge
from cdp.ingestion.schemas import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_MESSAGE_DEPTH,
    MESSAGE_TYPES,
    IngestResponse,
    Message,
)
from cdp.ingestion.service import (
    Call,
    IngestResult,
    StoredBefore,
    ingest_calls,
    too_deep_or_oversize,
)
from cdp.json_exact import PARSER_MAX_DEPTH, has_long_digits
from cdp.json_exact import loads as json_loads_exact

# Serialization failure, deadlock, a unique race (a message stored meanwhile), and a foreign key
# race: a profile written to was deleted meanwhile (an erasure), and the retry resolves afresh.
_RETRYABLE_SQLSTATES = {"40001", "40P01", "23505", "23503"}

# Group commit of every call (batches and single messages): see _GroupCommit.
GROUP_COMMIT = True
GROUP_MAX_MESSAGES = 2000  # per transaction (a larger call goes alone)
GROUP_MAX_FLUSHES = 1  # transactions in flight per worker process (1 beat 2: larger groups)
GROUP_MAX_WAITING = 5000  # messages waiting for a transaction; more are refused with a 503


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def _error_body(error: str, detail: str, field: str | None) -> dict[str, Any]:
    # `code` and `message` too: Segment's libraries read those to report a refusal.
    return {
        "success": False,
        "error": error,
        "field": field,
        "detail": detail,
        "code": error,
        "message": f"{field}: {detail}" if field else detail,
    }


def _error(
    status: int,
    error: str,
    detail: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return _json(status, _error_body(error, detail, field), headers)


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


class _BadEncoding(ValueError):
    pass


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it exceeds `limit` (a huge upload is not buffered).

    A gzip body (Segment's libraries can send one) is inflated as it arrives, and the limit
    applies to what it inflates to: a small bomb cannot fill the memory."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise _BadEncoding(f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    declared = request.headers.get("content-length")
    if inflater is None and declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks = []
    size = 0
    async for chunk in request.stream():
        if inflater is not None:
            try:
                chunk = inflater.decompress(chunk, limit + 1 - size)
            except zlib.error as error:
                raise _BadEncoding(f"the gzip body cannot be read: {error}") from None
            if inflater.unconsumed_tail:  # more output than the limit allows
                return None
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    if inflater is not None and not inflater.eof:
        raise _BadEncoding("the gzip body ends before its end")
    return b"".join(chunks)


def _retryable(error: DBAPIError, *, committing: bool) -> bool:
    code = getattr(error.orig, "sqlstate", None)
    if code in _RETRYABLE_SQLSTATES or "database is locked" in str(error.orig):
        return True
    # A pooled connection found dead (the database restarted; checkouts are not pinged): nothing
    # was written, so try again on a fresh one. Not if COMMIT itself failed so: it may have
    # committed, and a message without a messageId would then be stored twice.
    return error.connection_invalidated and not committing


def _unauthorized() -> Response:
    return _error(401, "unauthorized", "unknown or inactive write key", "writeKey")


def _unregistered(origin: str) -> Response:
    return _error(403, "forbidden", f"origin {origin} is not registered for this source", "Origin")


def _store(
    factory: sessionmaker[Session],
    cache: SourceCache,
    settings: Settings,
    *,
    write_key: str,
    origin: str | None,
    calls: list[Call],
) -> Response | list[IngestResult]:
    """Store the calls of one write key and origin in one transaction: one result per call.

    The source comes from the cache, and is confirmed in the storing transaction itself: a key
    deactivated or rotated away in any worker process stores nothing from then on."""
    cached = cache.lookup(factory, write_key)
    if cached is None:
        return _unauthorized()
    if origin is not None and origin not in cached.origins:
        return _unregistered(origin)
    for attempt in range(5):
        committing = False
        try:
            with session_scope(factory) as session:
                source = cache.current(session, write_key, cached)
                if source is None:
                    return _unauthorized()
                if origin is not None and origin not in source.origins:
                    return _unregistered(origin)
                results = ingest_calls(
                    session,
                    calls,
                    source=source,
                    received_at=datetime.now(UTC),
                    phone_region=settings.default_phone_region,
                    rules=settings.identity_rules(),
                    # A stored message shows as a unique violation, and the retry checks.
                    check_stored=attempt > 0,
                    commit_locked=session.commit,
                )
                committing = True  # session_scope commits as the block ends
            return results
        except DBAPIError as error:
            if attempt == 4 or not _retryable(error, committing=committing):
                raise
        except (ConcurrentMerge, StoredBefore):
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


@dataclass
class _Waiting:
    write_key: str
    origin: str | None
    call: Call
    answer: asyncio.Future[Response | IngestResult]


class _GroupCommit:
    """The calls of one worker process, stored together: group commit.

    A call (a batch, or one single message) is queued, and a flush stores queued calls, up to
    GROUP_MAX_MESSAGES messages, through `_store` in one transaction; each request is answered
    once that transaction committed, with its own outcome (accepted, duplicates, its own 400s).
    Fewer, larger transactions are what makes ingest fast: statements, identity locks and
    commits are shared, and with one flush per process, concurrent requests no longer wait on
    each other's identity locks. A flush starts as soon as a call waits and fewer than
    GROUP_MAX_FLUSHES run, so a lone call is stored at once, and under load the calls that
    arrive during a flush share the next one; there is no timer. If a transaction fails, its
    calls are stored one by one, so only the failing one fails. At most GROUP_MAX_WAITING
    messages wait; beyond that the request is refused (503, Retry-After), which Segment
    libraries retry. On shutdown the queue is drained before the engine closes.
    """

    def __init__(self, state: Any) -> None:
        self.state = state
        self.loop = asyncio.get_running_loop()
        self.waiting: list[_Waiting] = []
        self.waiting_messages = 0
        self.flushes: set[asyncio.Task[None]] = set()

    def submit(
        self, write_key: str, origin: str | None, call: Call
    ) -> asyncio.Future[Response | IngestResult] | None:
        size = len(call.messages)
        if self.waiting and self.waiting_messages + size > GROUP_MAX_WAITING:
            return None
        answer: asyncio.Future[Response | IngestResult] = self.loop.create_future()
        self.waiting.append(_Waiting(write_key, origin, call, answer))
        self.waiting_messages += size
        self._start()
        return answer

    async def drain(self) -> None:
        while self.waiting or self.flushes:
            self._start()
            await asyncio.gather(*self.flushes, return_exceptions=True)

    def _start(self) -> None:
        while self.waiting and len(self.flushes) < GROUP_MAX_FLUSHES:
            count, size = 0, 0
            for waiting in self.waiting:
                calls_size = len(waiting.call.messages)
                if count and size + calls_size > GROUP_MAX_MESSAGES:
                    break
                count, size = count + 1, size + calls_size
            taken = self.waiting[:count]
            del self.waiting[:count]
            self.waiting_messages -= size
            flush = self.loop.create_task(self._flush(taken))
            self.flushes.add(flush)
            flush.add_done_callback(self._finished)

    def _finished(self, flush: asyncio.Task[None]) -> None:
        self.flushes.discard(flush)
        self._start()

    async def _flush(self, taken: list[_Waiting]) -> None:
        groups: dict[tuple[str, str | None], list[_Waiting]] = {}
        for waiting in taken:
            groups.setdefault((waiting.write_key, waiting.origin), []).append(waiting)
        try:
            for items in groups.values():
                await self._store(items)
        finally:  # never leave a request waiting, whatever happened
            for waiting in taken:
                if not waiting.answer.done():
                    waiting.answer.set_exception(RuntimeError("the message was not stored"))

    async def _store(self, items: list[_Waiting]) -> None:
        first = items[0]
        try:
            outcome = await run_in_threadpool(
                _store,
                self.state.sessionmaker,
                self.state.sources,
                self.state.settings,
                write_key=first.write_key,
                origin=first.origin,
                calls=[waiting.call for waiting in items],
            )
        except Exception as error:
            if len(items) > 1:  # one by one: only the call at fault fails
                for waiting in items:
                    await self._store([waiting])
            elif not first.answer.done():
                first.answer.set_exception(error)
            return
        for index, waiting in enumerate(items):
            if waiting.answer.done():  # the request went away
                continue
            if isinstance(outcome, Response):  # refused for the write key or origin: all alike
                waiting.answer.set_result(
                    Response(
                        outcome.body, status_code=outcome.status_code, media_type="application/json"
                    )
                )
            else:
                waiting.answer.set_result(outcome[index])


def _group_commit(app: Any) -> _GroupCommit:
    committer: _GroupCommit | None = getattr(app.state, "group_commit", None)
    if committer is None or committer.loop is not asyncio.get_running_loop():
        committer = _GroupCommit(app.state)
        app.state.group_commit = committer
    return committer


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    committer: _GroupCommit | None = getattr(app.state, "group_commit", None)
    if committer is not None and committer.loop is asyncio.get_running_loop():
        await committer.drain()  # before the app's own lifespan disposes of the engine


router = APIRouter(prefix="/v1", tags=["collection (Segment Tracking API)"], lifespan=_lifespan)


async def _collect(request: Request, endpoint: str) -> Response:
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
    if raw_origin and raw_origin != "null":
        try:
            origin = normalise_origin(raw_origin)
        except InvalidInput:
            return _error(403, "forbidden", f"origin {raw_origin!r} is not allowed", "Origin")
    cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else None

    try:
        body = await _read_body(request, limit)
    except _BadEncoding as error:
        return _error(400, "invalid request", str(error), "Content-Encoding", cors)
    if body is None:
        what = "batch request" if is_batch else "message"
        return _error(
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
            return _error(400, "invalid request", detail, None, cors)
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
        # Merged into every message: nested too deep, it would make each one so.
        if (problem := too_deep_or_oversize(defaults)) is not None:
            field, reason = problem
            return _error(400, "invalid request", reason, field, cors)
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
        answer = _group_commit(request.app).submit(write_key, origin, call)
        if answer is None:
            return _error(
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
            _store,
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
            **_error_body(refused, first.reason, first.field),
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


# For the API documentation (/docs) only: POSTs take CollectionFastPath, which reads the key
# itself (also from the body's writeKey).
_WRITE_KEY = HTTPBasic(
    auto_error=False,
    scheme_name="writeKey",
    description="The source's write key as the user name, with an empty password.",
)


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


# POST paths of the collection API (long and one-letter forms) and their endpoint.
COLLECTION_PATHS = {
    path: endpoint
    for endpoint in (*MESSAGE_TYPES, "batch")
    for path in (f"/v1/{endpoint}", f"/v1/{endpoint[0]}")
}


class CollectionFastPath:
    """Pure ASGI middleware: POST /v1/... goes straight to the collection handler, past
    FastAPI's routing, dependency and exception layers, the hottest path of the product (they
    took a third of a worker's CPU for single messages). The routes stay registered for the
    OpenAPI docs; preflights (OPTIONS) and anything else go through the app as usual."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = None
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = COLLECTION_PATHS.get(scope["path"])
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        response = await _collect(Request(scope, receive), endpoint)
        await response(scope, receive, send)


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
