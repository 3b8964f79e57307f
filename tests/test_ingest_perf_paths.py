"""The fast paths of the ingest write path, checked for what they must keep doing.

Covers: events written with COPY on PostgreSQL (every field and JSON value kept, ids in batch
order, configurations pointing at their own events, a duplicate that races past the check
answered as a duplicate, overlapping batches racing each other stored once); lookups with one
array parameter (an absorbed owner resolves to its survivor); first/last seen widened in one
statement; search rows rewritten only when a searchable trait changes value; JSON columns
through orjson exactly as through the stdlib; no pool ping (a dead connection is retried).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import math
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, event, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

import cdp.ingestion.repository as ingest_repo
import cdp.ingestion.service as ingest_service
from cdp.app import create_app
from cdp.auth.service import SourceInfo, create_source
from cdp.config import Settings
from cdp.db import json_bytes, json_dumps, json_loads, make_engine, make_sessionmaker
from cdp.identity import repository as identity_repo
from cdp.identity.identifiers import Identifier
from cdp.ingestion.schemas import Rejection
from cdp.ingestion.service import Call, IngestResult, ingest_calls
from cdp.migrate import upgrade
from cdp.models import (
    Configuration,
    Event,
    Identity,
    Profile,
    ProfileSearch,
    ProfileTrait,
    QuarantinedMessage,
    Source,
)
from cdp.profiles.erasure import erase, find_person
from ingest import answers, group_commit, storing
from tests.helpers import (
    PARALLEL,
    SourceKey,
    ThreadedServer,
    drop_database,
    fire_together,
    fresh_database_url,
    post_to_server,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
# The live uvicorn server of the concurrency tests (PostgreSQL only), shared.


T = TypeVar("T")


def _run_isolated(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run in a thread of its own: another test in this worker (Playwright's sync API)
    may have left an event loop running in the main thread."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(scenario())).result(timeout=120)


def uid(prefix: str = "m") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def post_batch(
    client: TestClient, source: SourceKey, batch: list[dict[str, Any]]
) -> dict[str, Any]:
    response = client.post("/v1/batch", json={"batch": batch}, headers=source.auth)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def search_row(db: Session, pid: uuid.UUID) -> ProfileSearch | None:
    db.expire_all()
    return db.get(ProfileSearch, pid)


def profile_of(db: Session, anonymous_id: str) -> uuid.UUID:
    db.expire_all()
    pid = db.scalar(select(Event.profile_id).where(Event.anonymous_id == anonymous_id).limit(1))
    assert pid is not None
    return pid


# --- events: COPY on PostgreSQL, INSERT on SQLite --------------------------------------------

AWKWARD = {
    "tab": "a\tb",
    "newline": "line 1\nline 2\r\n",
    "backslash": "C:\\path\\N and \\N",
    "copy_null_marker": "\\N",
    "quotes": 'it\'s "quoted"',
    "unicode": "Škoda Citroën 😀 \u2028",
    "empty": "",
    "null": None,
    "true": True,
    "zero": 0,
    "int64": 2**63 - 1,
    "negative": -(2**63),
    "float": 0.1,
    "small": 1e-7,
    "nested": {"list": [1, "two", [3.5, None], {"deep": {"deeper": []}}]},
}


def test_events_keep_every_field_and_json_value(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid("anon")
    batch = [
        {
            "type": "track",
            "event": "Option Selected",
            "messageId": uid(),
            "anonymousId": anon,
            "userId": "user\twith\\odd\nchars",
            "timestamp": at(1),
            "properties": AWKWARD,
            "context": {"page": {"url": "https://x.example/?a=1&b=%20"}, "odd": AWKWARD},
        },
        {
            "type": "identify",
            "messageId": uid(),
            "anonymousId": anon,
            "timestamp": at(2),
            "traits": {"favourite": AWKWARD["nested"], "note": AWKWARD["backslash"]},
        },
        {
            "type": "page",
            "messageId": uid(),
            "anonymousId": anon,
            "name": "Home",
            "category": "Landing",
            "timestamp": at(3),
        },
    ]
    result = post_batch(app_client, web_source, batch)
    assert result["accepted"] == 3 and result["duplicates"] == 0

    db.expire_all()
    events = db.scalars(select(Event).where(Event.anonymous_id == anon).order_by(Event.id)).all()
    assert [e.message_id for e in events] == [m["messageId"] for m in batch]
    track, identify, page = events
    assert track.properties == AWKWARD
    assert track.context == batch[0]["context"]
    assert track.traits == {}
    assert track.user_id == "user\twith\\odd\nchars"
    assert (track.type, track.name, track.channel) == ("track", "Option Selected", "web")
    assert track.occurred_at == T0 + timedelta(minutes=1)
    assert track.source_id == web_source.id
    assert identify.traits == batch[1]["traits"]
    assert identify.name is None and identify.user_id is None
    assert page.properties == {"category": "Landing"}
    assert page.name == "Home"
    assert len({e.profile_id for e in events}) == 1
    assert track.received_at == identify.received_at == page.received_at


def test_configurations_point_at_their_own_events(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid("anon")
    codes = [f"CFG{uuid.uuid4().hex[:6].upper()}" for _ in range(3)]
    batch: list[dict[str, Any]] = []
    for n, code in enumerate(codes):
        batch.append(
            {
                "type": "track",
                "event": "Option Selected",
                "messageId": uid(),
                "anonymousId": anon,
                "timestamp": at(n * 2),
            }
        )
        batch.append(
            {
                "type": "track",
                "event": "Configuration Saved",
                "messageId": uid(),
                "anonymousId": anon,
                "timestamp": at(n * 2 + 1),
                "properties": {"configuration_code": code, "model": f"Model {n}"},
            }
        )
    post_batch(app_client, web_source, batch)

    db.expire_all()
    events = db.scalars(select(Event).where(Event.anonymous_id == anon).order_by(Event.id)).all()
    # Ids follow the order of the batch.
    assert [e.message_id for e in events] == [m["messageId"] for m in batch]
    configurations = db.scalars(
        select(Configuration).where(Configuration.code.in_(codes)).order_by(Configuration.id)
    ).all()
    assert [c.code for c in configurations] == codes
    for configuration in configurations:
        saved = db.get(Event, configuration.event_id)
        assert saved is not None
        assert saved.name == "Configuration Saved"
        assert saved.properties["configuration_code"] == configuration.code
        assert saved.profile_id == configuration.profile_id


def test_a_duplicate_racing_past_the_check_is_answered_as_a_duplicate(
    app_client: TestClient,
    web_source: SourceKey,
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another request stored the message between this one's check and its write: on
    PostgreSQL the COPY fails with a unique violation and the route retries the whole
    transaction; on SQLite ON CONFLICT skips it. Either way: stored once, answered 200."""
    message = {"anonymousId": uid("anon"), "messageId": uid(), "event": "Option Selected"}
    first = app_client.post("/v1/track", json=message, headers=web_source.auth)
    assert first.status_code == 200 and first.json()["duplicates"] == 0

    real = ingest_repo.known_message_ids
    calls: list[int] = []

    def blind_once(session: Session, source_id: int, message_ids: Any) -> set[str]:
        calls.append(1)
        return set() if len(calls) == 1 else real(session, source_id, message_ids)

    monkeypatch.setattr(ingest_repo, "known_message_ids", blind_once)
    again = app_client.post("/v1/track", json=message, headers=web_source.auth)
    assert again.status_code == 200, again.text
    assert again.json() == {"success": True, "accepted": 1, "duplicates": 1, "rejected": []}
    db.expire_all()
    stored = db.scalar(select(func.count()).where(Event.message_id == message["messageId"]))
    assert stored == 1


def test_writing_an_event_already_stored_is_a_unique_violation_on_postgresql(
    db_kind: str, db: Session, web_source: SourceKey
) -> None:
    """The contract the COPY path relies on: the unique constraint, not the pre-check, is what
    keeps a message from being stored twice."""
    if db_kind != "postgresql":
        pytest.skip("SQLite writes events with INSERT .. ON CONFLICT DO NOTHING")
    pid = uuid.uuid4()
    identity_repo.insert_profiles(db, [(pid, T0, T0)], T0)
    row = {
        "source_id": web_source.id,
        "message_id": uid(),
        "type": "track",
        "name": "Option Selected",
        "channel": "web",
        "profile_id": pid,
        "anonymous_id": None,
        "user_id": None,
        "occurred_at": T0,
        "received_at": T0,
        "properties": {},
        "traits": {},
        "context": {},
    }
    with db.begin_nested():
        ids = ingest_repo.insert_events(db, [row])
    assert list(ids) == [row["message_id"]]
    with pytest.raises(IntegrityError) as raised, db.begin_nested():
        ingest_repo.insert_events(db, [{**row}])
    assert getattr(raised.value.orig, "sqlstate", None) == "23505"
    assert db.scalar(select(func.count()).where(Event.message_id == row["message_id"])) == 1


def test_racing_batches_that_share_messages_store_each_message_once(
    threaded_server: ThreadedServer,
) -> None:
    parallel = PARALLEL
    run = uuid.uuid4().hex[:8]
    shared = [
        {
            "type": "track",
            "event": "Option Selected",
            "messageId": f"{run}-shared-{n}",
            "anonymousId": f"{run}-visitor-{n % 3}",
        }
        for n in range(10)
    ]
    own = {
        i: [
            {
                "type": "page",
                "name": "Home",
                "messageId": f"{run}-own-{i}-{n}",
                "anonymousId": f"{run}-visitor-{n % 3}",
            }
            for n in range(5)
        ]
        for i in range(parallel)
    }
    calls = [("batch", {"batch": [*shared, *own[i]]}) for i in range(parallel)]
    responses = fire_together(threaded_server, calls)
    for response in responses:
        assert response.status_code == 200, response.text
    assert sum(r.json()["duplicates"] for r in responses) == len(shared) * (parallel - 1)
    with threaded_server.session() as session:
        counts = dict(
            session.execute(
                select(Event.message_id, func.count())
                .where(Event.message_id.like(f"{run}-%"))
                .group_by(Event.message_id)
            ).all()
        )
        assert len(counts) == len(shared) + 5 * parallel
        assert set(counts.values()) == {1}


# --- races with another writer (PostgreSQL, committing for real) -----------------------------


@pytest.fixture()
def other_writer(own_database: tuple[str, str]) -> Iterator[sessionmaker[Session]]:
    """Sessions of a second writer on the test's own database, on connections of its own."""
    engine = make_engine(own_database[0])
    yield make_sessionmaker(engine)
    engine.dispose()


@contextlib.contextmanager
def collector(own_database: tuple[str, str]) -> Iterator[Callable[..., httpx.Response]]:
    """POST /v1/batch on an app serving the test's own database."""
    url, key = own_database
    auth = httpx.BasicAuth(key, "")
    with TestClient(create_app(Settings(database_url=url))) as client:
        yield lambda *batch: client.post("/v1/batch", json={"batch": list(batch)}, auth=auth)


def message(kind: str, anonymous_id: str, minute: float, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "messageId": uid(),
        "anonymousId": anonymous_id,
        "timestamp": at(minute),
        **fields,
    }


def identify_elsewhere(
    factory: sessionmaker[Session], anonymous_id: str, email: str, minute: float
) -> None:
    """The other writer links a visitor to an e-mail address, and commits."""
    link = message("identify", anonymous_id, minute, traits={"email": email})
    with factory() as other:
        source = other.scalars(select(Source).where(Source.name == "pool site")).one()
        ingest_calls(
            other,
            [Call([link], "identify")],
            source=SourceInfo(id=source.id, name=source.name, kind="web"),
            received_at=datetime.now(UTC),
            phone_region="NL",
        )
        other.commit()


def assert_stored_once(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1 and response.json()["duplicates"] == 0


def test_a_merge_committed_while_a_batch_is_stored_moves_the_batch_to_the_survivor(
    own_database: tuple[str, str],
    other_writer: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A known visitor's message takes no identity lock, so a concurrent merge can absorb its
    profile between reading the owner and COMMIT: the write is then retried on the survivor."""
    run = uid("race")
    email = f"{run}@example.com"
    real_owners_of = identity_repo.owners_of
    merged_meanwhile: list[bool] = []

    def owners_then_merge(session: Session, identifiers: Any) -> Any:
        owners = real_owners_of(session, identifiers)
        if Identifier("anonymous_id", f"{run}-a") in owners and not merged_meanwhile:
            merged_meanwhile.append(True)  # another writer links the visitor to the email
            identify_elsewhere(other_writer, f"{run}-a", email, 61)
        return owners

    racing = message("track", f"{run}-a", 62, event="Option Selected")
    with collector(own_database) as send:
        first = send(
            message("identify", f"{run}-b", 0, traits={"email": email}),
            message("track", f"{run}-a", 60, event="Configuration Started"),
        )
        assert first.status_code == 200
        with other_writer() as session:
            visitor, survivor = profile_of(session, f"{run}-a"), profile_of(session, f"{run}-b")
        assert visitor != survivor
        monkeypatch.setattr(identity_repo, "owners_of", owners_then_merge)
        assert_stored_once(send(racing))
    assert merged_meanwhile
    with other_writer() as session:
        merged_into = session.scalar(select(Profile.merged_into_id).where(Profile.id == visitor))
        stored = session.scalars(
            select(Event.profile_id).where(Event.message_id == racing["messageId"])
        )
        left = session.scalar(select(func.count()).where(Event.profile_id == visitor))
        assert merged_into == survivor
        assert list(stored) == [survivor]  # not left on the absorbed profile
        assert left == 0


def test_new_identities_are_committed_before_the_events_and_a_merge_in_between_is_followed(
    own_database: tuple[str, str],
    other_writer: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new visitor's profile and identifiers are committed in a short transaction of their own
    (the identity locks go with it), before the batch's events. A merge that absorbs that new
    profile before the events are committed makes the rest start over: the events land on the
    survivor."""
    monkeypatch.setattr(ingest_service, "EARLY_COMMIT_FROM", 1)  # a batch of one, here
    run = uid("early")
    email = f"{run}@example.com"
    seen_from_outside: list[uuid.UUID | None] = []
    real_ingest_calls = storing.ingest_calls

    def merge_right_after_the_identities(*args: Any, **kwargs: Any) -> Any:
        commit = kwargs["commit_locked"]

        def commit_then_merge() -> None:
            commit()
            if not seen_from_outside:
                with other_writer() as other:  # the new visitor is visible to everyone now
                    seen_from_outside.append(
                        other.scalar(
                            select(Identity.profile_id).where(Identity.value == f"{run}-new")
                        )
                    )
                identify_elsewhere(other_writer, f"{run}-new", email, 30)

        return real_ingest_calls(*args, **{**kwargs, "commit_locked": commit_then_merge})

    racing = message("track", f"{run}-new", 20, event="Configuration Started")
    with collector(own_database) as send:
        assert (
            send(message("identify", f"{run}-old", 0, traits={"email": email})).status_code == 200
        )
        monkeypatch.setattr(storing, "ingest_calls", merge_right_after_the_identities)
        assert_stored_once(send(racing))
    [early] = seen_from_outside
    assert early is not None  # committed before the events were
    with other_writer() as session:
        survivor = profile_of(session, f"{run}-old")
        merged_into = session.scalar(select(Profile.merged_into_id).where(Profile.id == early))
        stored = session.scalars(
            select(Event.profile_id).where(Event.message_id == racing["messageId"])
        )
        left = session.scalar(select(func.count()).where(Event.profile_id == early))
        assert merged_into == survivor
        assert list(stored) == [survivor]  # not left on the profile merged away in between
        assert left == 0


def test_an_erasure_committed_while_a_batch_is_stored_leaves_no_event_on_the_erased_profile(
    own_database: tuple[str, str],
    other_writer: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Events have no foreign key to their profile: a batch whose profile an erasure deleted
    between reading the owner and COMMIT starts over, and its events land on a new profile."""
    run = uid("erased")
    email = f"{run}@example.com"
    real_owners_of = identity_repo.owners_of
    erased_meanwhile: list[bool] = []

    def owners_then_erase(session: Session, identifiers: Any) -> Any:
        owners = real_owners_of(session, identifiers)
        if Identifier("anonymous_id", f"{run}-a") in owners and not erased_meanwhile:
            erased_meanwhile.append(True)
            with other_writer() as other:  # the person asks to be forgotten, right now
                erase(other, find_person(other, email), erased_by="test", reason="asked")
                other.commit()
        return owners

    # Dated after the erasure: a message of the device dated before it is an erased person's
    # replay, which suppression drops (test_suppression.py); this one must land, on a new profile.
    racing = {
        **message("track", f"{run}-a", 62, event="Option Selected"),
        "timestamp": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
    }
    with collector(own_database) as send:
        assert send(message("identify", f"{run}-a", 0, traits={"email": email})).status_code == 200
        with other_writer() as session:
            erased = profile_of(session, f"{run}-a")
        monkeypatch.setattr(identity_repo, "owners_of", owners_then_erase)
        assert_stored_once(send(racing))
    assert erased_meanwhile
    with other_writer() as session:
        [owner] = session.scalars(
            select(Event.profile_id).where(Event.message_id == racing["messageId"])
        )
        assert owner != erased
        assert session.get(Profile, owner) is not None  # a live profile of its own
        assert session.get(Profile, erased) is None
        left = session.scalar(select(func.count()).where(Event.profile_id == erased))
        assert left == 0


# --- lookups and first/last seen --------------------------------------------------------------


class StatementCounter:
    def __init__(self, engine: Engine) -> None:
        self.engine, self.count = engine, 0

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: object) -> None:
        self.count += 1


def test_owners_of_resolves_an_absorbed_owner_to_its_survivor_in_one_statement(
    db: Session, engine: Engine, db_kind: str
) -> None:
    survivor, absorbed = uuid.uuid4(), uuid.uuid4()
    identity_repo.insert_profiles(db, [(survivor, T0, T0), (absorbed, T0, T0)], T0)
    mine, theirs, nobody = (Identifier("anonymous_id", uid("anon")) for _ in range(3))
    identity_repo.insert_identities(
        db, [(mine, survivor), (theirs, absorbed)], source_id=None, now=T0
    )
    db.execute(update(Profile).where(Profile.id == absorbed).values(merged_into_id=survivor))
    # The same value under another kind is not a match.
    other_kind = Identifier("config_code", mine.value)
    with StatementCounter(engine) as counter:
        owners = identity_repo.owners_of(db, [mine, theirs, nobody, other_kind])
    assert owners == {mine: survivor, theirs: survivor}
    assert counter.count == 1


def test_known_message_ids_takes_thousands_of_ids(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    message = {"anonymousId": uid("anon"), "messageId": uid(), "event": "Option Selected"}
    assert app_client.post("/v1/track", json=message, headers=web_source.auth).status_code == 200
    wanted = [uid() for _ in range(2500)] + [message["messageId"]]
    assert ingest_repo.known_message_ids(db, web_source.id, wanted) == {message["messageId"]}
    assert ingest_repo.known_message_ids(db, web_source.id + 1, wanted) == set()


def test_touch_profiles_only_ever_widens_first_and_last_seen(db: Session) -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    minutes = [timedelta(minutes=m) for m in range(60)]
    identity_repo.insert_profiles(
        db,
        [
            (a, T0 + minutes[10], T0 + minutes[20]),
            (b, T0 + minutes[10], T0 + minutes[20]),
            (c, T0 + minutes[10], T0 + minutes[20]),
        ],
        T0,
    )
    identity_repo.touch_profiles(
        db,
        [
            (a, T0 + minutes[5], T0 + minutes[15]),  # earlier first, last inside
            (b, T0 + minutes[12], T0 + minutes[30]),  # later last
            (c, T0 + minutes[12], T0 + minutes[18]),  # inside: unchanged
        ],
    )
    db.expire_all()
    seen = {
        pid: (first, last)
        for pid, first, last in db.execute(
            select(Profile.id, Profile.first_seen_at, Profile.last_seen_at).where(
                Profile.id.in_([a, b, c])
            )
        )
    }
    assert seen == {
        a: (T0 + minutes[5], T0 + minutes[20]),
        b: (T0 + minutes[10], T0 + minutes[30]),
        c: (T0 + minutes[10], T0 + minutes[20]),
    }


# --- the search projection ----------------------------------------------------------------


def identify(
    client: TestClient, source: SourceKey, anon: str, minute: float, **traits: Any
) -> None:
    response = client.post(
        "/v1/identify",
        json={"anonymousId": anon, "messageId": uid(), "timestamp": at(minute), "traits": traits},
        headers=source.auth,
    )
    assert response.status_code == 200, response.text


def tamper(db: Session, pid: uuid.UUID) -> None:
    """Mark the search row, to see whether the next message rewrites it."""
    db.execute(update(ProfileSearch).where(ProfileSearch.profile_id == pid).values(city="MARK"))
    db.flush()


def test_search_row_is_rewritten_only_when_a_searchable_trait_changes_value(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon, email = uid("anon"), f"{uid('klant')}@example.nl"
    identify(app_client, web_source, anon, 1, email=email, first_name="Anna", plan="lease")
    pid = profile_of(db, anon)
    row = search_row(db, pid)
    assert row is not None and row.name == "Anna" and row.email == email

    tamper(db, pid)
    # The same searchable values again, a non-searchable trait changed, and the e-mail address
    # repeated in context.traits by a track call: nothing searchable changed.
    identify(app_client, web_source, anon, 2, email=email, first_name="Anna", plan="buy")
    response = app_client.post(
        "/v1/track",
        json={
            "anonymousId": anon,
            "messageId": uid(),
            "event": "Option Selected",
            "context": {"traits": {"email": email.upper()}},
        },
        headers=web_source.auth,
    )
    assert response.status_code == 200
    row = search_row(db, pid)
    assert row is not None and row.city == "MARK"

    identify(app_client, web_source, anon, 3, first_name="Anne")
    row = search_row(db, pid)
    assert row is not None and row.name == "Anne" and row.city is None and row.email == email


def test_a_searchable_trait_changing_type_rewrites_the_search_row(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid("anon")
    identify(app_client, web_source, anon, 1, first_name="Bo", postal_code=1012)
    pid = profile_of(db, anon)
    tamper(db, pid)
    identify(app_client, web_source, anon, 2, postal_code="1012")  # equal in Python, not in JSON
    row = search_row(db, pid)
    assert row is not None and row.city is None and row.postal_code is not None


def test_a_saved_configuration_rewrites_the_search_row(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid("anon")
    identify(app_client, web_source, anon, 1, first_name="Cas")
    pid = profile_of(db, anon)
    tamper(db, pid)
    response = app_client.post(
        "/v1/track",
        json={
            "anonymousId": anon,
            "messageId": uid(),
            "event": "Configuration Saved",
            "properties": {"configuration_code": "CFGSEARCH1", "model": "Aurora"},
        },
        headers=web_source.auth,
    )
    assert response.status_code == 200
    row = search_row(db, pid)
    assert row is not None and row.city is None and row.latest_model == "Aurora"


# --- JSON columns: orjson where it gives what the stdlib gives --------------------------------


def canonical(value: Any) -> Any:
    """A value with its types spelled out, NaN comparable: for exact comparisons."""
    if isinstance(value, dict):
        return ("dict", [(k, canonical(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [canonical(v) for v in value])
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value.hex())
    return (type(value).__name__, value)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_json_dumps_writes_what_the_stdlib_writes(value: Any) -> None:
    expected = canonical(json.loads(json.dumps(value)))
    assert canonical(json.loads(json_dumps(value))) == expected
    assert canonical(json.loads(json_bytes(value))) == expected  # what psycopg sends


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_json_loads_reads_what_the_stdlib_reads(value: Any) -> None:
    written = json.dumps(value)
    expected = canonical(json.loads(written))
    assert canonical(json_loads(written)) == expected
    assert canonical(json_loads(written.encode())) == expected  # psycopg hands in bytes
    compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert canonical(json_loads(compact)) == expected


@pytest.mark.parametrize(
    "value",
    [Decimal("1.10"), datetime(2026, 3, 1, tzinfo=UTC), {1, 2}, b"bytes", {"when": T0}],
    ids=["decimal", "datetime", "set", "bytes", "nested datetime"],
)
def test_json_dumps_refuses_what_the_stdlib_refuses(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        json_dumps(value)


def test_json_dumps_keeps_the_stdlib_forms_orjson_would_change() -> None:
    assert json.loads(json_dumps({1: "a"})) == {"1": "a"}  # non-string keys
    assert json_dumps([math.nan, math.inf]) == "[NaN, Infinity]"  # not [null, null]
    assert json_bytes({"a": [None, {"b": -math.inf}]}) == b'{"a": [null, {"b": -Infinity}]}'
    assert json.loads(json_dumps(2**70)) == 2**70


ROUND_TRIP = [
    {"a": [1, 2.5, None, True, "x\ty\n\\N"], "u": "é😀\u2028", "nested": {"k": [{}]}},
    2**70,
    -(2**65),
    0.1,
    1e-7,
    1.5e300,
    123456789.123456789,
    "just text",
    None,
    [],
]


def _round_trip(factory: sessionmaker[Session], values: list[Any]) -> list[Any]:
    with factory() as session:
        pid = uuid.uuid4()
        identity_repo.insert_profiles(session, [(pid, T0, T0)], T0)
        identity_repo.upsert_traits(
            session,
            [
                {
                    "profile_id": pid,
                    "name": f"t{n}",
                    "value": value,
                    "value_at": T0,
                    "first_value": value,
                    "first_at": T0,
                    "search_text": None,
                }
                for n, value in enumerate(values)
            ],
        )
        session.flush()
        rows = dict(
            session.execute(
                select(ProfileTrait.name, ProfileTrait.value).where(ProfileTrait.profile_id == pid)
            ).all()
        )
        session.rollback()
    return [rows[f"t{n}"] for n in range(len(values))]


def test_json_columns_round_trip_as_with_the_stdlib(migrated_url: str, db_kind: str) -> None:
    """The app's engine (orjson) against one with SQLAlchemy's defaults (json.dumps/loads)."""
    values = list(ROUND_TRIP)
    if db_kind == "sqlite":
        values += [math.nan, math.inf, [-math.inf]]  # SQLite keeps them; PostgreSQL refuses
    ours = make_engine(migrated_url)
    stdlib = create_engine(migrated_url)
    try:
        got = _round_trip(make_sessionmaker(ours), values)
        expected = _round_trip(make_sessionmaker(stdlib), values)
    finally:
        ours.dispose()
        stdlib.dispose()
    if db_kind == "sqlite":
        # SQLAlchemy's defaults let SQLite store a whole value past 64 bits as a REAL, rounded
        # (the column's numeric affinity); ours keep it exact, as PostgreSQL does.
        assert got[1:3] == [2**70, -(2**65)]
        assert expected[1:3] == [float(2**70), float(-(2**65))]
        got, expected = got[:1] + got[3:], expected[:1] + expected[3:]
    assert [canonical(v) for v in got] == [canonical(v) for v in expected]


def test_postgresql_still_refuses_nan_in_json(migrated_url: str, db_kind: str) -> None:
    if db_kind != "postgresql":
        pytest.skip("SQLite stores NaN as the stdlib writes it")
    engine = make_engine(migrated_url)
    try:
        with pytest.raises(DBAPIError):
            _round_trip(make_sessionmaker(engine), [{"score": math.nan}])
    finally:
        engine.dispose()


# --- the pool: no ping per checkout -------------------------------------------------------------


@pytest.fixture()
def own_database(db_kind: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if db_kind != "postgresql":
        pytest.skip("a dead pooled connection is a PostgreSQL matter")
    url = fresh_database_url("postgresql", tmp_path, f"pool_{uuid.uuid4().hex[:6]}")
    engine = make_engine(url)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        _source, key = create_source(session, name="pool site", kind="web", origins=[])
        session.commit()
    engine.dispose()
    yield url, key
    drop_database(url)


def test_ingest_survives_connections_killed_under_the_pool(
    own_database: tuple[str, str],
) -> None:
    url, key = own_database
    auth = httpx.BasicAuth(key, "")
    database = url.rsplit("/", 1)[1]
    with TestClient(create_app(Settings(database_url=url, db_pool_size=2))) as client:
        anon = uid("anon")
        for n in range(2):
            response = client.post(
                "/v1/track",
                json={"anonymousId": anon, "messageId": f"{anon}-{n}", "event": "Step Viewed"},
                auth=auth,
            )
            assert response.status_code == 200, response.text
            # As a database restart would: every pooled connection dies.
            admin = create_engine(url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                killed = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": database},
                ).scalar_one()
            admin.dispose()
            assert killed >= 1
        response = client.post(
            "/v1/track",
            json={"anonymousId": anon, "messageId": f"{anon}-last", "event": "Step Viewed"},
            auth=auth,
        )
        assert response.status_code == 200, response.text
    engine = make_engine(url)
    with Session(engine) as session:
        stored = session.scalar(select(func.count()).where(Event.anonymous_id == anon))
    engine.dispose()
    assert stored == 3


# --- group commit of single messages ----------------------------------------------------------


class FakeStore:
    """Stands in for ingest.storing.store: records each call's messages, can hold calls until
    released, fails a call holding a message marked "poison", rejects messages marked "bad"."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, *_args: Any, calls: list[Call], **_kwargs: Any) -> list[IngestResult]:
        ids = [m["messageId"] for call in calls for m in call.messages]
        self.calls.append(ids)
        assert self.release.wait(10)
        if any(mid.startswith("poison") for mid in ids):
            raise RuntimeError("poisoned")
        seen: set[str] = set()
        results = []
        for call in calls:
            result = IngestResult()
            for i, message in enumerate(call.messages):
                mid = message["messageId"]
                if mid.startswith("bad"):
                    result.rejected.append(Rejection(index=i, field="event", reason="bad"))
                    continue
                result.accepted += 1
                if mid in seen:
                    result.duplicate_indices.append(i)
                seen.add(mid)
            result.duplicates = len(result.duplicate_indices)
            results.append(result)
        return results


class FakeState:
    sessionmaker = sources = settings = None


@pytest.fixture()
def fake_store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    fake = FakeStore()
    monkeypatch.setattr(group_commit, "store", fake)
    return fake


def test_messages_arriving_during_a_flush_share_the_next_transaction(
    fake_store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_commit, "GROUP_MAX_FLUSHES", 1)

    async def scenario() -> list[Any]:
        committer = group_commit.GroupCommit(FakeState())
        fake_store.release.clear()
        first = committer.submit("key", None, Call([{"messageId": "m0"}], "track"))
        await asyncio.sleep(0.05)  # the first flush is running (held)
        later = [
            committer.submit("key", None, Call([{"messageId": f"m{n}"}], "track"))
            for n in range(1, 5)
        ]
        later.append(committer.submit("key", None, Call([{"messageId": "m1"}], "track")))  # a retry
        fake_store.release.set()
        return await asyncio.gather(*(f for f in [first, *later] if f is not None))

    results = _run_isolated(scenario)
    assert fake_store.calls == [["m0"], ["m1", "m2", "m3", "m4", "m1"]]
    assert [(r.accepted, r.duplicates, r.rejected) for r in results] == [
        (1, 0, []),
        (1, 0, []),
        (1, 0, []),
        (1, 0, []),
        (1, 0, []),
        (1, 1, []),
    ]


def test_a_bad_message_in_a_group_gets_its_own_rejection(
    fake_store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_commit, "GROUP_MAX_FLUSHES", 1)

    async def scenario() -> list[Any]:
        committer = group_commit.GroupCommit(FakeState())
        fake_store.release.clear()
        answers = [
            committer.submit("key", None, Call([{"messageId": mid}], "track"))
            for mid in ("warm", "ok-1", "bad-1", "ok-2")
        ]
        fake_store.release.set()
        return await asyncio.gather(*(a for a in answers if a is not None))

    _warm, ok1, bad, ok2 = _run_isolated(scenario)
    assert fake_store.calls == [["warm"], ["ok-1", "bad-1", "ok-2"]]
    assert ok1.accepted == ok2.accepted == 1 and not ok1.rejected and not ok2.rejected
    assert bad.accepted == 0
    assert [(r.index, r.field) for r in bad.rejected] == [(0, "event")]  # its own index: 0


def test_a_failing_group_is_stored_one_by_one_so_only_the_culprit_fails(
    fake_store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_commit, "GROUP_MAX_FLUSHES", 1)

    async def scenario() -> list[Any]:
        committer = group_commit.GroupCommit(FakeState())
        fake_store.release.clear()
        answers = [
            committer.submit("key", None, Call([{"messageId": mid}], "track"))
            for mid in ("warm", "ok-1", "poison-1", "ok-2")
        ]
        fake_store.release.set()
        return await asyncio.gather(*(a for a in answers if a is not None), return_exceptions=True)

    _warm, ok1, poisoned, ok2 = _run_isolated(scenario)
    assert isinstance(poisoned, RuntimeError)
    assert ok1.accepted == ok2.accepted == 1
    assert fake_store.calls == [
        ["warm"],
        ["ok-1", "poison-1", "ok-2"],
        ["ok-1"],
        ["poison-1"],
        ["ok-2"],
    ]


def test_the_queue_is_bounded(fake_store: FakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(group_commit, "GROUP_MAX_FLUSHES", 1)
    monkeypatch.setattr(group_commit, "GROUP_MAX_WAITING", 2)

    async def scenario() -> tuple[list[bool], list[Any]]:
        committer = group_commit.GroupCommit(FakeState())
        fake_store.release.clear()
        answers = [
            committer.submit("key", None, Call([{"messageId": f"m{n}"}], "track")) for n in range(5)
        ]
        await asyncio.sleep(0.05)
        fake_store.release.set()
        return [a is not None for a in answers], await asyncio.gather(
            *(a for a in answers if a is not None)
        )

    taken, results = _run_isolated(scenario)
    # m0 is being stored, m1 and m2 wait; m3 and m4 are refused.
    assert taken == [True, True, True, False, False]
    assert len(results) == 3


def test_draining_stores_everything_still_waiting(
    fake_store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_commit, "GROUP_MAX_FLUSHES", 1)
    monkeypatch.setattr(group_commit, "GROUP_MAX_MESSAGES", 2)

    async def scenario() -> list[Any]:
        committer = group_commit.GroupCommit(FakeState())
        fake_store.release.clear()
        answers = [
            committer.submit("key", None, Call([{"messageId": f"m{n}"}], "track")) for n in range(7)
        ]
        await asyncio.sleep(0.05)
        asyncio.get_running_loop().call_later(0.05, fake_store.release.set)
        await committer.drain()
        assert not committer.waiting and not committer.flushes
        return [a.result() for a in answers if a is not None]

    results = _run_isolated(scenario)
    assert len(results) == 7 and all(r.accepted == 1 for r in results)
    assert sorted(mid for call in fake_store.calls for mid in call) == [f"m{n}" for n in range(7)]


def test_a_refused_write_key_is_answered_to_every_request_of_the_group(
    fake_store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        return answers.error_answer(
            401, "unauthorized", "unknown or inactive write key", "writeKey"
        )

    monkeypatch.setattr(group_commit, "store", refuse)

    async def scenario() -> list[Any]:
        committer = group_commit.GroupCommit(FakeState())
        answers = [
            committer.submit("nope", None, Call([{"messageId": f"m{n}"}], "track"))
            for n in range(3)
        ]
        return await asyncio.gather(*(a for a in answers if a is not None))

    responses = _run_isolated(scenario)
    assert [r.status_code for r in responses] == [401, 401, 401]
    assert len({id(r) for r in responses}) == 3  # each request its own response object


def test_batches_share_a_transaction_up_to_the_message_limit_and_a_large_one_goes_alone(
    fake_store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_commit, "GROUP_MAX_FLUSHES", 1)
    monkeypatch.setattr(group_commit, "GROUP_MAX_MESSAGES", 5)

    def batch(prefix: str, size: int) -> Call:
        return Call([{"messageId": f"{prefix}{n}"} for n in range(size)], "batch")

    async def scenario() -> list[Any]:
        committer = group_commit.GroupCommit(FakeState())
        fake_store.release.clear()
        answers = [
            committer.submit("key", None, batch("w", 1)),  # held: the others queue behind it
            committer.submit("key", None, batch("a", 2)),
            committer.submit("key", None, batch("b", 3)),  # 2 + 3 = 5: same transaction
            committer.submit("key", None, batch("c", 7)),  # above the limit: alone
            committer.submit("key", None, Call([{"messageId": "a1"}], "track")),  # a retry
        ]
        await asyncio.sleep(0.05)
        fake_store.release.set()
        return await asyncio.gather(*(a for a in answers if a is not None))

    _warm, a, b, c, retry = _run_isolated(scenario)
    assert fake_store.calls == [
        ["w0"],
        ["a0", "a1", "b0", "b1", "b2"],
        [f"c{n}" for n in range(7)],
        ["a1"],
    ]
    assert (a.accepted, b.accepted, c.accepted) == (2, 3, 7)
    assert retry.accepted == 1


def test_calls_stored_together_are_answered_as_if_stored_alone(
    db: Session, web_source: SourceKey
) -> None:
    run = uid("run")
    message = {"type": "track", "event": "Option Selected", "anonymousId": f"{run}-v"}
    calls = [
        Call(
            [
                {**message, "messageId": f"{run}-1"},
                {**message, "messageId": f"{run}-2", "event": " "},  # invalid: no event name
                {**message, "messageId": f"{run}-3"},
            ],
            "batch",
        ),
        Call([{**message, "messageId": f"{run}-3"}], "track"),  # the batch's message, again
        Call([{**message, "messageId": f"{run}-4", "event": ""}], "track"),  # invalid
        Call([{**message, "messageId": f"{run}-5", "anonymousId": f"{run}-w"}], "track"),
    ]
    results = ingest_calls(
        db,
        calls,
        source=SourceInfo(id=web_source.id, name=web_source.name, kind="web"),
        received_at=datetime.now(UTC),
        phone_region="NL",
    )
    db.commit()
    batch, repeat, invalid, other = results
    assert (batch.accepted, batch.duplicates) == (2, 0)
    assert [(r.index, r.field) for r in batch.rejected] == [(1, "event")]
    assert (repeat.accepted, repeat.duplicates, repeat.duplicate_indices) == (1, 1, [0])
    assert (invalid.accepted, [(r.index, r.field) for r in invalid.rejected]) == (0, [(0, "event")])
    assert (other.accepted, other.duplicates, other.rejected) == (1, 0, [])
    assert len(set(batch.profile_ids)) == 1 and other.profile_ids != batch.profile_ids
    stored = db.scalars(
        select(Event.message_id).where(Event.message_id.like(f"{run}-%")).order_by(Event.id)
    ).all()
    assert stored == [f"{run}-1", f"{run}-3", f"{run}-5"]
    quarantined = db.execute(
        select(QuarantinedMessage.endpoint, QuarantinedMessage.batch_index)
        .where(QuarantinedMessage.raw.like(f"%{run}-%"))
        .order_by(QuarantinedMessage.id)
    ).all()
    assert [tuple(row) for row in quarantined] == [("batch", 1), ("track", 0)]


def test_simultaneous_single_messages_each_get_their_own_answer(
    threaded_server: ThreadedServer,
) -> None:
    run = uuid.uuid4().hex[:8]
    stored_before = f"{run}-stored"
    post_to_server(
        threaded_server,
        "track",
        {"anonymousId": f"{run}-v", "messageId": stored_before, "event": "X"},
    )
    calls: list[tuple[str, dict[str, Any]]] = [
        ("track", {"anonymousId": f"{run}-v{n}", "messageId": f"{run}-new-{n}", "event": "Y"})
        for n in range(6)
    ]
    calls += [
        ("track", {"anonymousId": f"{run}-v", "messageId": stored_before, "event": "X"}),
        ("page", {"anonymousId": f"{run}-w", "messageId": f"{run}-twice", "name": "Home"}),
        ("page", {"anonymousId": f"{run}-w", "messageId": f"{run}-twice", "name": "Home"}),
        ("track", {"anonymousId": f"{run}-v", "messageId": f"{run}-no-event"}),
        ("identify", {"userId": "undefined", "messageId": f"{run}-placeholder"}),
    ]
    responses = fire_together(threaded_server, calls)
    bodies = [r.json() for r in responses]
    for response, body in zip(responses[:6], bodies[:6], strict=True):
        assert response.status_code == 200 and body["duplicates"] == 0, body
    assert responses[6].status_code == 200 and bodies[6]["duplicates"] == 1
    assert sorted(b["duplicates"] for b in bodies[7:9]) == [0, 1]
    assert responses[9].status_code == 400 and bodies[9]["field"] == "event"
    assert bodies[9]["rejected"][0]["index"] == 0
    assert responses[10].status_code == 400 and bodies[10]["field"] == "userId"
    with threaded_server.session() as session:
        counts = dict(
            session.execute(
                select(Event.message_id, func.count())
                .where(Event.message_id.like(f"{run}-%"))
                .group_by(Event.message_id)
            ).all()
        )
        assert counts == {
            stored_before: 1,
            f"{run}-twice": 1,
            **{f"{run}-new-{n}": 1 for n in range(6)},
        }
        quarantined = dict(
            session.execute(
                select(QuarantinedMessage.endpoint, QuarantinedMessage.raw).where(
                    QuarantinedMessage.raw.like(f"%{run}-%")
                )
            ).all()
        )
        assert set(quarantined) == {"track", "identify"}
        assert f"{run}-no-event" in quarantined["track"]
        assert f"{run}-placeholder" in quarantined["identify"]
