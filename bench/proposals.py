"""Prototypes of the proposed ingest optimisations, applied by monkeypatching (benchmarks only).

Nothing here is product code and nothing in the product is edited: `apply(names)` replaces
module attributes in the running process, so bench/profile_ingest.py (--apply) and the server
started through bench/patched_asgi.py (BENCH_PROPOSALS=...) can measure each proposal against
the unchanged code. PostgreSQL only. Names:

  any        known_message_ids and owners_of with one array parameter (`= ANY(:ids)`) instead of
             `IN (100 parameters)`, and owners_of in one query (JOIN profile for merged_into_id)
  touch      touch_profiles as one UPDATE .. FROM unnest(ids, firsts, lasts) instead of one
             UPDATE per profile
  core       inserts through Core on the Table (events, profiles, identities, traits,
             configurations, consents): all columns always rendered, so rows with None values
             no longer split one INSERT into several, and no ORM bulk bookkeeping
  copy       events written with COPY (ids drawn from event_id_seq first, in one query), instead
             of a multi-row INSERT .. ON CONFLICT DO NOTHING RETURNING; duplicates are already
             filtered by known_message_ids, and a concurrent duplicate fails the COPY with a
             unique violation (23505), which the route already retries
  orjson     the engine's JSON serializer is orjson (JSONB parameters) instead of json.dumps
  noping     pool_pre_ping off (one round trip less per transaction)
  nolock     NO advisory locks (unsafe: only to measure what lock waits cost, an upper bound)
  coalesce   single-message endpoints (/v1/track, /v1/page, ...) queue their message and one
             background flush per worker stores all queued messages in one transaction
             (group commit); each request still gets its answer only after that COMMIT
  all        any, touch, core, orjson, noping (the safe ones), plus copy and coalesce
  httponly   NOT a proposal: /v1 routes parse and authenticate as now, then answer 200 without
             touching the database; measures the HTTP + framework floor of a request
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import String, any_, bindparam, case, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

SAFE = ("any", "touch", "core", "orjson", "noping")
EVENT_COLUMNS = (
    "source_id",
    "message_id",
    "type",
    "name",
    "channel",
    "profile_id",
    "anonymous_id",
    "user_id",
    "occurred_at",
    "received_at",
    "properties",
    "traits",
    "context",
)
_JSON_COLUMNS = frozenset({"properties", "traits", "context"})


# --- any -------------------------------------------------------------------------------------


def _any_patches() -> None:
    import cdp.identity.repository as identity_repo
    import ingest.repository as ingest_repo
    from cdp.identity.identifiers import Identifier
    from cdp.models import Event

    known = select(Event.message_id).where(
        Event.source_id == bindparam("sid"),
        Event.message_id == any_(bindparam("ids", type_=postgresql.ARRAY(String))),
    )

    def known_message_ids(session: Session, source_id: int, message_ids: Sequence[str]) -> set[str]:
        if not message_ids:
            return set()
        return set(session.scalars(known, {"sid": source_id, "ids": list(message_ids)}))

    owners = text(
        "SELECT i.kind, i.value, COALESCE(p.merged_into_id, i.profile_id) FROM identity AS i "
        "JOIN profile AS p ON p.id = i.profile_id WHERE i.value = ANY(CAST(:vals AS varchar[]))"
    )

    def owners_of(session: Session, identifiers: Iterable[Identifier]) -> dict[Identifier, Any]:
        wanted = set(identifiers)
        if not wanted:
            return {}
        found: dict[Identifier, Any] = {}
        for kind, value, pid in session.execute(
            owners, {"vals": sorted({i.value for i in wanted})}
        ):
            ident = Identifier(kind, value)
            if ident in wanted:
                found[ident] = pid
        return found

    ingest_repo.known_message_ids = known_message_ids
    identity_repo.owners_of = owners_of


# --- touch -----------------------------------------------------------------------------------


def _touch_patch() -> None:
    import cdp.identity.repository as identity_repo

    stmt = text(
        "UPDATE profile AS p SET first_seen_at = LEAST(p.first_seen_at, v.f), "
        "last_seen_at = GREATEST(p.last_seen_at, v.l) "
        "FROM unnest(CAST(:ids AS uuid[]), CAST(:f AS timestamptz[]), CAST(:l AS timestamptz[])) "
        "AS v(id, f, l) WHERE p.id = v.id"
    )

    def touch_profiles(
        session: Session, seen: Sequence[tuple[uuid.UUID, datetime, datetime]]
    ) -> None:
        if not seen:
            return
        ordered = sorted(seen)
        session.execute(
            stmt,
            {
                "ids": [s[0] for s in ordered],
                "f": [s[1] for s in ordered],
                "l": [s[2] for s in ordered],
            },
        )

    identity_repo.touch_profiles = touch_profiles


# --- core ------------------------------------------------------------------------------------


def _core_patches() -> None:
    import cdp.identity.repository as identity_repo
    import ingest.repository as ingest_repo
    import ingest.service as service
    from cdp.identity.identifiers import Identifier
    from cdp.models import Configuration, Consent, Event, Identity, Profile, ProfileTrait

    events = Event.__table__
    insert_events_stmt = (
        postgresql.insert(events)
        .on_conflict_do_nothing(index_elements=[events.c.source_id, events.c.message_id])
        .returning(events.c.message_id, events.c.id)
    )

    def insert_events(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
        if not rows:
            return {}
        return dict(session.execute(insert_events_stmt, rows).tuples().all())

    def plain_insert(table: Any) -> Any:
        stmt = postgresql.insert(table)

        def run(session: Session, rows: list[dict[str, Any]]) -> None:
            if rows:
                session.execute(stmt, rows)

        return run

    insert_configurations = plain_insert(Configuration.__table__)
    insert_consents = plain_insert(Consent.__table__)
    insert_profile_rows = plain_insert(Profile.__table__)
    insert_identity_rows = plain_insert(Identity.__table__)

    def insert_profiles(
        session: Session, rows: Sequence[tuple[uuid.UUID, datetime, datetime]], now: datetime
    ) -> None:
        insert_profile_rows(
            session,
            [
                {
                    "id": pid,
                    "created_at": now,
                    "first_seen_at": first,
                    "last_seen_at": last,
                    "merged_into_id": None,
                    "merged_at": None,
                }
                for pid, first, last in rows
            ],
        )

    def insert_identities(
        session: Session,
        rows: Sequence[tuple[Identifier, uuid.UUID]],
        *,
        source_id: int | None,
        now: datetime,
    ) -> None:
        insert_identity_rows(
            session,
            [
                {
                    "kind": ident.kind,
                    "value": ident.value,
                    "profile_id": pid,
                    "source_id": source_id,
                    "first_seen_at": now,
                }
                for ident, pid in rows
            ],
        )

    traits = ProfileTrait.__table__

    def upsert_stmt(ties_keep_existing: bool) -> Any:
        stmt = postgresql.insert(traits)
        new, cur = stmt.excluded, traits.c
        later = new.value_at > cur.value_at if ties_keep_existing else new.value_at >= cur.value_at
        return stmt.on_conflict_do_update(
            index_elements=[cur.profile_id, cur.name],
            set_={
                "value": case((later, new.value), else_=cur.value),
                "search_text": case((later, new.search_text), else_=cur.search_text),
                "value_at": case((later, new.value_at), else_=cur.value_at),
                "first_value": case(
                    (new.first_at < cur.first_at, new.first_value), else_=cur.first_value
                ),
                "first_at": case((new.first_at < cur.first_at, new.first_at), else_=cur.first_at),
            },
        )

    upserts = {False: upsert_stmt(False), True: upsert_stmt(True)}

    def upsert_traits(
        session: Session, rows: list[dict[str, Any]], *, ties_keep_existing: bool = False
    ) -> None:
        if rows:
            session.execute(upserts[ties_keep_existing], rows)

    ingest_repo.insert_events = insert_events
    ingest_repo.insert_configurations = insert_configurations
    ingest_repo.insert_consents = insert_consents
    identity_repo.insert_profiles = insert_profiles
    identity_repo.insert_identities = insert_identities
    identity_repo.upsert_traits = upsert_traits
    service.upsert_traits = upsert_traits


# --- copy ----------------------------------------------------------------------------------


def _copy_patch() -> None:
    import ingest.repository as ingest_repo

    copy_sql = f"COPY event (id, {', '.join(EVENT_COLUMNS)}) FROM STDIN"

    def insert_events(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
        if not rows:
            return {}
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cur:
            cur.execute("SELECT nextval('event_id_seq') FROM generate_series(1, %s)", (len(rows),))
            ids = [row[0] for row in cur.fetchall()]
            with cur.copy(copy_sql) as copy:
                for event_id, row in zip(ids, rows, strict=True):
                    copy.write_row(
                        (
                            event_id,
                            *(
                                orjson.dumps(row[c]).decode() if c in _JSON_COLUMNS else row[c]
                                for c in EVENT_COLUMNS
                            ),
                        )
                    )
        return {row["message_id"]: event_id for event_id, row in zip(ids, rows, strict=True)}

    ingest_repo.insert_events = insert_events


# --- engine options --------------------------------------------------------------------------


def _engine_patch(orjson_json: bool, no_ping: bool) -> None:
    from sqlalchemy import create_engine

    import cdp.app
    import cdp.db

    original = cdp.db.make_engine

    def make_engine(url: str, *, pool_size: int = 10) -> Any:
        if url.startswith("sqlite"):
            return original(url, pool_size=pool_size)
        options: dict[str, Any] = {
            "pool_size": pool_size,
            "max_overflow": pool_size,
            "pool_pre_ping": not no_ping,
        }
        if orjson_json:
            options["json_serializer"] = lambda obj: orjson.dumps(obj).decode()
        return create_engine(url, **options)

    cdp.db.make_engine = make_engine
    cdp.app.make_engine = make_engine


# --- nolock ----------------------------------------------------------------------------------


def _nolock_patch() -> None:
    import cdp.identity.repository as identity_repo

    def lock_identifiers(session: Session, identifiers: Iterable[Any]) -> None:
        return None

    identity_repo.lock_identifiers = lock_identifiers


# --- coalesce --------------------------------------------------------------------------------


class _Coalescer:
    """Per-process queue of single messages; at most `in_flight` flushes run at once."""

    def __init__(self, max_batch: int = 200, in_flight: int = 2) -> None:
        self.max_batch = max_batch
        self.in_flight_limit = in_flight
        self.in_flight = 0
        self.pending: list[
            tuple[tuple[str, str | None, str], dict[str, Any], asyncio.Future[Any]]
        ] = []

    async def submit(
        self, state: Any, key: tuple[str, str | None, str], message: dict[str, Any]
    ) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append((key, message, future))
        self._maybe_flush(state)
        return await future

    def _maybe_flush(self, state: Any) -> None:
        while self.pending and self.in_flight < self.in_flight_limit:
            taken, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
            self.in_flight += 1
            task = asyncio.ensure_future(self._flush(state, taken))
            task.add_done_callback(lambda _t: self._done(state))

    def _done(self, state: Any) -> None:
        self.in_flight -= 1
        self._maybe_flush(state)

    async def _flush(self, state: Any, taken: list[Any]) -> None:
        from starlette.concurrency import run_in_threadpool

        from ingest.routes import _store

        groups: dict[tuple[str, str | None, str], list[tuple[dict[str, Any], Any]]] = {}
        for key, message, future in taken:
            groups.setdefault(key, []).append((message, future))
        for (write_key, origin, endpoint), items in groups.items():
            try:
                outcome = await run_in_threadpool(
                    _store,
                    state.sessionmaker,
                    state.sources,
                    state.settings,
                    write_key=write_key,
                    origin=origin,
                    messages=[m for m, _ in items],
                    endpoint=endpoint,
                    check_size=False,
                    defaults=None,
                )
            except Exception as error:  # every waiting request fails with it
                for _, future in items:
                    if not future.done():
                        future.set_exception(error)
                continue
            for index, (_, future) in enumerate(items):
                if not future.done():
                    future.set_result((outcome, index))


def _coalesce_patch() -> None:
    from fastapi import Request
    from fastapi.responses import Response

    import ingest.routes as routes
    from cdp.auth.service import normalise_origin
    from cdp.errors import InvalidInput
    from ingest.schemas import MAX_MESSAGE_BYTES
    from ingest.service import IngestResult

    original = routes._collect
    coalescers: dict[int, _Coalescer] = {}

    async def _collect(request: Request, endpoint: str) -> Response:
        if endpoint == "batch":
            return await original(request, endpoint)
        raw_origin = request.headers.get("origin")
        origin = None
        if raw_origin and raw_origin != "null":
            try:
                origin = normalise_origin(raw_origin)
            except InvalidInput:
                return await original(request, endpoint)
        cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else None
        body = await routes._read_body(request, MAX_MESSAGE_BYTES)
        if body is None:
            return routes._error(413, "payload too large", "too large", None, cors)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            return routes._error(400, "malformed JSON", str(error), None, cors)
        if not isinstance(data, dict):
            return routes._error(
                400, "invalid request", "the body must be a JSON object", None, cors
            )
        write_key = routes._basic_user(request) or data.get("writeKey")
        if not isinstance(write_key, str) or not write_key:
            return routes._error(401, "unauthorized", "send the write key", "writeKey", cors)
        data.pop("writeKey", None)
        coalescer = coalescers.setdefault(id(request.app), _Coalescer())
        outcome, index = await coalescer.submit(
            request.app.state, (write_key, origin, endpoint), {**data, "type": endpoint}
        )
        if isinstance(outcome, Response):
            return Response(
                outcome.body,
                status_code=outcome.status_code,
                media_type="application/json",
                headers=cors,
            )
        assert isinstance(outcome, IngestResult)
        mine = [r for r in outcome.rejected if r.index == index]
        if mine:
            return routes._json(
                400,
                {
                    "success": False,
                    "error": "invalid message",
                    "field": mine[0].field,
                    "detail": mine[0].reason,
                    "rejected": [mine[0].model_dump()],
                },
                cors,
            )
        return routes._json(
            200, {"success": True, "accepted": 1, "duplicates": 0, "rejected": []}, cors
        )

    routes._collect = _collect


def _httponly_patch() -> None:
    import ingest.routes as routes
    from ingest.service import IngestResult

    def _store(*_args: Any, messages: list[Any], **_kwargs: Any) -> IngestResult:
        return IngestResult(accepted=len(messages))

    routes._store = _store


def apply(names: Iterable[str]) -> list[str]:
    chosen = {n.strip() for n in names if n.strip()}
    if "all" in chosen:
        chosen |= {*SAFE, "copy", "coalesce"}
        chosen.discard("all")
    unknown = chosen - {*SAFE, "copy", "nolock", "coalesce", "httponly"}
    if unknown:
        raise SystemExit(f"unknown proposals: {sorted(unknown)}")
    if "any" in chosen:
        _any_patches()
    if "touch" in chosen:
        _touch_patch()
    if "core" in chosen:
        _core_patches()
    if "copy" in chosen:  # after core, which also replaces insert_events
        _copy_patch()
    if "orjson" in chosen or "noping" in chosen:
        _engine_patch("orjson" in chosen, "noping" in chosen)
    if "nolock" in chosen:
        _nolock_patch()
    if "coalesce" in chosen:
        _coalesce_patch()
    if "httponly" in chosen:
        _httponly_patch()
    return sorted(chosen)
