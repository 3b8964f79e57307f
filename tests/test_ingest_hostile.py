"""The collection API against hostile but valid input, as a chaos tester sends it (issue 14).

Covers: messages nested deeper than MAX_MESSAGE_DEPTH refused one by one and quarantined while
the batch's other messages are stored (also a message that is refused anyway, and one with an
integer past 64 bits); a message at the limit stored and read back; a batch context nested too
deep; a body deeper than the parser reads; integers past 64 bits kept exact from the request to
the stored identifiers, events and traits and back out through the read API and the customer
page; a refused message retried with its messageId quarantined once; a write key deactivated or
rotated away refused at once by apps that had it cached.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio
import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.app import create_app
from cdp.auth.service import rotate_write_key, set_source_active
from cdp.config import Settings
from cdp.ingestion.schemas import MAX_MESSAGE_DEPTH
from cdp.models import Event, Identity
from tests.helpers import (
    SourceKey,
    events_by_anonymous_id,
    make_source,
    make_token,
    post_v1,
    post_v1_raw,
    quarantine_of,
    uid,
)


def nested(levels: int, inner: bytes = b"1") -> bytes:
    """JSON text of objects nested `levels` deep around `inner` (built as text: json.dumps
    would itself recurse too deep)."""
    return b'{"a":' * levels + inner + b"}" * levels


def message_text(properties: bytes, *, anonymous_id: str, event: str | None = "Deep") -> bytes:
    """A track message whose properties are the given JSON text: as deep as they are, plus 1."""
    named = f'"event":{json.dumps(event)},' if event is not None else ""
    return (
        f'{{"type":"track",{named}"anonymousId":"{anonymous_id}","properties":'.encode()
        + properties
        + b"}"
    )


def batch_text(*messages: bytes) -> bytes:
    return b'{"batch":[' + b",".join(messages) + b"]}"


def good_message(anonymous_id: str, message_id: str | None = None) -> bytes:
    message = {"type": "track", "event": "Fine", "anonymousId": anonymous_id}
    return json.dumps({**message, "messageId": message_id or uid("m")}).encode()


# --- depth ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("depth", "event"),
    [
        (MAX_MESSAGE_DEPTH + 1, "Deep"),
        (300, "Deep"),
        (300, None),  # refused anyway (no event name): quarantining it failed the batch
        (1000, "Deep"),  # the body is 1002 deep, within what the parser reads
    ],
)
def test_a_message_nested_too_deep_is_refused_alone_and_the_batch_is_stored(
    app_client: TestClient, web_source: SourceKey, db: Session, depth: int, event: str | None
) -> None:
    good, deep = uid("good"), uid("deep")
    # The message is level 1, its properties level 2: `depth - 1` levels of properties.
    body = batch_text(
        good_message(good),
        message_text(nested(depth - 1), anonymous_id=deep, event=event),
        good_message(good),
    )
    for _attempt in range(2):  # as a client retries: the same answer, never a 500
        response = post_v1_raw(app_client, web_source, "batch", body)
        assert response.status_code == 200, response.text
        answer = response.json()
        [rejected] = answer["rejected"]
        assert rejected["index"] == 1
        assert f"nested {depth} levels deep" in rejected["reason"]
        assert f"the limit is {MAX_MESSAGE_DEPTH}" in rejected["reason"]
    assert len(events_by_anonymous_id(db, good)) == 2
    assert events_by_anonymous_id(db, deep) == []
    kept = quarantine_of(db, web_source)
    assert {row.batch_index for row in kept} == {1}
    assert f"the limit is {MAX_MESSAGE_DEPTH}" in kept[0].reason
    # Kept whole, as sent (but for spacing).
    assert kept[0].raw.encode() == message_text(nested(depth - 1), anonymous_id=deep, event=event)


def test_a_message_at_the_depth_limit_is_stored_and_read_back(
    app_client: TestClient,
    web_source: SourceKey,
    db: Session,
    session_factory: sessionmaker[Session],
) -> None:
    anon = uid()
    body = message_text(
        nested(MAX_MESSAGE_DEPTH - 2, b"12345678901234567890123"), anonymous_id=anon
    )
    response = post_v1_raw(app_client, web_source, "track", body)
    assert response.status_code == 200, response.text
    [stored] = events_by_anonymous_id(db, anon)
    value: Any = stored.properties
    for _level in range(MAX_MESSAGE_DEPTH - 2):
        value = value["a"]
    assert value == 12345678901234567890123
    profile = app_client.get(
        f"/api/profiles/{stored.profile_id}", headers=make_token(session_factory)
    )
    assert profile.status_code == 200, profile.text
    assert '"a":12345678901234567890123}' in profile.text


def test_a_single_message_nested_too_deep_is_a_400_and_quarantined(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    body = message_text(nested(600, b"12345678901234567890123"), anonymous_id=anon)
    response = post_v1_raw(app_client, web_source, "track", body.replace(b'"type":"track",', b""))
    assert response.status_code == 400, response.text
    assert "nested 601 levels deep" in response.json()["detail"]
    [kept] = quarantine_of(db, web_source)
    assert kept.endpoint == "track" and "12345678901234567890123}" in kept.raw


def test_a_batch_context_nested_too_deep_is_a_400_naming_it(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    body = b'{"context":' + nested(300) + b',"batch":[' + good_message(anon) + b"]}"
    response = post_v1_raw(app_client, web_source, "batch", body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "context"
    assert "nested 301 levels deep" in response.json()["detail"]
    assert events_by_anonymous_id(db, anon) == []


@pytest.mark.parametrize("endpoint", ["batch", "track"])
def test_a_body_deeper_than_the_parser_reads_is_a_clear_400(
    app_client: TestClient, web_source: SourceKey, endpoint: str
) -> None:
    body = message_text(nested(1100), anonymous_id=uid())
    if endpoint == "batch":
        body = batch_text(body)
    response = post_v1_raw(app_client, web_source, endpoint, body)
    assert response.status_code == 400, response.text
    assert "nested more than 1024 levels deep" in response.json()["detail"]
    assert f"at most {MAX_MESSAGE_DEPTH} levels" in response.json()["detail"]


# --- integers past 64 bits ------------------------------------------------------------------

BIG = 123456789012345678901234  # past 64 bits: orjson reads it as 1.2345678901234569e+23


def test_numeric_user_ids_past_64_bits_stay_two_people(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    body = (
        b'{"batch":['
        + b'{"type":"identify","userId":123456789012345678901234,"traits":{"city":"Delft"}},'
        + b'{"type":"identify","userId":123456789012345678901235,"traits":{"city":"Gouda"}},'
        + b'{"type":"identify","userId":-9223372036854775809,"traits":{"city":"Ede"}}'
        + b"]}"
    )
    response = post_v1_raw(app_client, web_source, "batch", body)
    assert response.json() == {"success": True, "accepted": 3, "duplicates": 0, "rejected": []}
    db.expire_all()
    values = {str(BIG), str(BIG + 1), "-9223372036854775809"}
    rows = db.execute(
        select(Identity.value, Identity.profile_id).where(
            Identity.kind == "user_id", Identity.value.in_(values)
        )
    ).all()
    assert {value for value, _ in rows} == values
    assert len({pid for _, pid in rows}) == 3
    events = db.scalars(select(Event).where(Event.user_id.in_(values))).all()
    assert sorted(e.user_id or "" for e in events) == sorted(values)


def test_large_integer_properties_and_traits_are_stored_and_read_back_exactly(
    app_client: TestClient,
    web_source: SourceKey,
    db: Session,
    session_factory: sessionmaker[Session],
    staff_client: Any,
) -> None:
    anon = uid()
    numbers = (
        b'{"n":123456789012345678901235,"negative":-9223372036854775809,'
        b'"u64":18446744073709551615,"past_u64":18446744073709551616,"list":[1,'
        b'99999999999999999999999999999999999999],"text":"1234567890123456789012345"}'
    )
    body = (
        b'{"type":"identify","anonymousId":"'
        + anon.encode()
        + b'","traits":{"city":98765432109876543210987,"loyalty":'
        + numbers
        + b'},"context":{"counter":-123456789012345678901234}}'
    )
    assert post_v1_raw(app_client, web_source, "identify", body).status_code == 200
    expected = json.loads(numbers)  # json.loads keeps integers exact
    assert expected["n"] == BIG + 1
    [event] = events_by_anonymous_id(db, anon)
    assert event.traits["loyalty"] == expected
    assert event.context["counter"] == -BIG
    # The event's properties too (a track call).
    body = (
        (b'{"type":"track","event":"Big","anonymousId":"' + anon.encode() + b'","properties":')
        + numbers
        + b"}"
    )
    assert post_v1_raw(app_client, web_source, "track", body).status_code == 200
    big_event = next(e for e in events_by_anonymous_id(db, anon) if e.name == "Big")
    assert big_event.properties == expected

    profile = app_client.get(
        f"/api/profiles/{event.profile_id}", headers=make_token(session_factory)
    )
    assert profile.status_code == 200, profile.text
    read = json.loads(profile.text)
    assert read["traits"]["loyalty"] == expected
    assert read["traits"]["city"] == 98765432109876543210987
    [timeline_event] = [e for e in read["timeline"] if e["name"] == "Big"]
    assert timeline_event["properties"] == expected

    page = staff_client("sales").client.get(f"/showroom/customers/{event.profile_id}")
    assert page.status_code == 200
    contact = BeautifulSoup(page.text, "html.parser").select_one(".contact")
    assert contact is not None and "98765432109876543210987" in contact.get_text()


def test_a_refused_message_with_a_large_integer_is_quarantined_exactly(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    body = batch_text(
        b'{"type":"track","anonymousId":"x","properties":{"n":123456789012345678901234}}',
        b'{"type":"track","event":"Huge","anonymousId":"y","properties":{"n":'
        + b"9" * 5000
        + b"}}",
    )
    response = post_v1_raw(app_client, web_source, "batch", body)
    assert response.status_code == 400, response.text
    reasons = [r["reason"] for r in response.json()["rejected"]]
    assert "a track call needs a non-empty event name" in reasons[0]
    assert "holds an integer of more than 4300 digits" in reasons[1]
    kept = quarantine_of(db, web_source)
    assert '"n":123456789012345678901234}' in kept[0].raw
    assert '"n":' + "9" * 5000 + "}" in kept[1].raw


# --- refused messages retried -----------------------------------------------------------------


def test_a_refused_message_retried_with_its_message_id_is_quarantined_once(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    refused = {"anonymousId": uid(), "messageId": uid("m"), "properties": {"n": 1}}
    numeric = {"type": "track", "anonymousId": uid(), "messageId": 42}  # as "42"
    anonymous = {"type": "track", "anonymousId": uid()}  # no messageId: nothing to tell by
    for _attempt in range(3):
        assert post_v1(app_client, web_source, "track", refused).status_code == 400
        response = post_v1(
            app_client,
            web_source,
            "batch",
            {"batch": [{**refused, "type": "track"}, numeric, numeric, anonymous]},
        )
        assert response.status_code == 400
        assert [r["index"] for r in response.json()["rejected"]] == [0, 1, 2, 3]
    kept = quarantine_of(db, web_source)
    # The batch's copy of the first one is its retry too (same source and messageId).
    assert sorted((row.endpoint, row.batch_index) for row in kept) == sorted(
        [("track", 0), ("batch", 1)] + [("batch", 3)] * 3
    )
    assert refused["messageId"] in kept[0].raw


def test_the_same_message_id_refused_for_another_source_is_kept_for_each(
    app_client: TestClient,
    web_source: SourceKey,
    showroom_source: SourceKey,
    db: Session,
) -> None:
    refused = {"anonymousId": uid(), "messageId": uid("m")}
    for source in (web_source, showroom_source, web_source):
        assert post_v1(app_client, source, "track", refused).status_code == 400
    assert len(quarantine_of(db, web_source)) == 1
    assert len(quarantine_of(db, showroom_source)) == 1


# --- write keys deactivated or rotated away -----------------------------------------------------


def _track(anonymous_id: str) -> dict[str, Any]:
    return {"event": "Seen", "anonymousId": anonymous_id, "messageId": uid("m")}


def test_a_deactivated_write_key_stops_at_once_in_every_app(
    engine: Engine, session_factory: sessionmaker[Session], settings: Settings, db: Session
) -> None:
    source = make_source(session_factory)
    # Two apps, as two worker processes of `cdp serve --workers 2`, each with its own cache.
    first = create_app(settings, engine=engine, session_factory=session_factory)
    second = create_app(settings, engine=engine, session_factory=session_factory)
    with TestClient(first) as one, TestClient(second) as two:
        for client in (one, two):  # both have the key cached now
            assert post_v1(client, source, "track", _track(uid())).status_code == 200
        with session_factory() as session:  # as `cdp source deactivate` does
            set_source_active(session, source.name, active=False)
            session.commit()
        for client in (one, two):
            anon = uid()
            response = post_v1(
                client, source, "batch", {"batch": [{**_track(anon), "type": "track"}]}
            )
            assert response.status_code == 401, response.text
            assert response.json()["field"] == "writeKey"
            assert events_by_anonymous_id(db, anon) == []
        with session_factory() as session:
            set_source_active(session, source.name, active=True)
            session.commit()


def test_a_rotated_away_write_key_stops_at_once(
    engine: Engine, session_factory: sessionmaker[Session], settings: Settings, db: Session
) -> None:
    source = make_source(session_factory)
    app = create_app(settings, engine=engine, session_factory=session_factory)
    with TestClient(app) as client:
        assert post_v1(client, source, "track", _track(uid())).status_code == 200
        with session_factory() as session:  # as `cdp source rotate-key` does
            _rotated, new_key = rotate_write_key(session, source.name)
            session.commit()
        anon = uid()
        assert post_v1(client, source, "track", _track(anon)).status_code == 401
        assert events_by_anonymous_id(db, anon) == []
        renewed = SourceKey(id=source.id, name=source.name, key=new_key)
        assert post_v1(client, renewed, "track", _track(anon)).status_code == 200
        assert len(events_by_anonymous_id(db, anon)) == 1


def test_a_client_gone_mid_body_stores_nothing_and_logs_a_line_not_a_traceback(
    app_client: TestClient,
    web_source: SourceKey,
    db: Session,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A phone losing its signal halfway through an upload: the app is called as a server
    calls it, the body's first half then the disconnect."""
    anon = "gone-" + web_source.key[-8:]
    body = good_message(anon)
    half = body[: len(body) // 2]
    incoming = [
        {"type": "http.request", "body": half, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/track",
        "raw_path": b"/v1/track",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *[(k.lower().encode(), v.encode()) for k, v in web_source.auth.items()],
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }

    def serve() -> None:
        anyio.run(app_client.app, scope, receive, send)  # type: ignore[arg-type]

    # In a thread of its own: a browser test's Playwright may hold this thread's event loop.
    with caplog.at_level("INFO"):
        served = threading.Thread(target=serve)
        served.start()
        served.join(timeout=30)
    assert not served.is_alive()
    assert sent == []  # nobody to answer
    assert "disconnected before sending its whole body" in caplog.text
    assert not [r for r in caplog.records if r.levelname == "ERROR" or r.exc_info]
    db.expire_all()
    assert db.scalars(select(Event).where(Event.anonymous_id == anon)).all() == []
