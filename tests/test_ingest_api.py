"""The collection API (/v1) as a Segment tracking library sees it, checked against the database.

Covers: every call type stored with the spec's fields; batches mixing valid and invalid messages
(per-message rejections, quarantine); explicit nulls; batch-level context and sentAt; write-key
auth (Basic user, body writeKey, unknown, inactive); CORS (registered origin, unregistered origin,
preflight); size limits; malformed and non-object JSON; messageId de-duplication; clock skew.
"""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

import cdp.ingestion.service as ingest_service
from cdp.ingestion.schemas import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES
from cdp.models import (
    Configuration,
    Event,
    Identity,
    IdentityWarning,
    ProfileMerge,
    QuarantinedMessage,
    Source,
)
from tests.helpers import (
    SourceKey,
    events_by_anonymous_id,
    make_source,
    post_v1,
    post_v1_raw,
    quarantine_of,
    uid,
)

ORIGIN = "https://configurator.example.com"  # registered on the web_source fixture


# --- small factories -------------------------------------------------------------------------


def events_by_message_id(db: Session, message_id: str) -> list[Event]:
    db.expire_all()
    return list(db.scalars(select(Event).where(Event.message_id == message_id)))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- every call type ------------------------------------------------------------------------

CALLS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # endpoint: (body extras, expected stored columns)
    "identify": (
        {"userId": "cust-1", "traits": {"firstName": "Sanne", "plan": "lease"}},
        {
            "type": "identify",
            "name": None,
            "user_id": "cust-1",
            "traits": {"firstName": "Sanne", "plan": "lease"},
        },
    ),
    "track": (
        {"event": "Configuration Started", "properties": {"model": "Aurora", "step": 1}},
        {
            "type": "track",
            "name": "Configuration Started",
            "properties": {"model": "Aurora", "step": 1},
        },
    ),
    "page": (
        {"name": "Configurator", "category": "Cars", "properties": {"path": "/configure"}},
        {
            "type": "page",
            "name": "Configurator",
            "properties": {"path": "/configure", "category": "Cars"},
        },
    ),
    "screen": (
        {"name": "Colour picker", "properties": {"variant": "b"}},
        {"type": "screen", "name": "Colour picker", "properties": {"variant": "b"}},
    ),
    "group": (
        {"groupId": "dealer-utrecht", "traits": {"name": "Dealer Utrecht"}},
        {
            "type": "group",
            "properties": {"groupId": "dealer-utrecht"},
            "traits": {"name": "Dealer Utrecht"},
        },
    ),
    "alias": (
        {"previousId": "prev-anon-1", "userId": "cust-alias-1"},
        {"type": "alias", "properties": {"previousId": "prev-anon-1"}, "user_id": "cust-alias-1"},
    ),
}


@pytest.mark.parametrize("endpoint", sorted(CALLS))
def test_each_call_type_is_stored_with_its_fields(
    app_client: TestClient, web_source: SourceKey, db: Session, endpoint: str
) -> None:
    extras, expected = CALLS[endpoint]
    anonymous_id, message_id = uid("anon"), uid("msg")
    context = {"library": {"name": "analytics.js", "version": "5.2.0"}, "locale": "nl-NL"}
    body = {
        "anonymousId": anonymous_id,
        "messageId": message_id,
        "timestamp": "2026-03-01T10:00:00Z",
        "context": context,
        "integrations": {"All": True},
        **extras,
    }

    response = post_v1(app_client, web_source, endpoint, body)

    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    assert response.headers["content-type"].startswith("application/json")
    [event] = events_by_message_id(db, message_id)
    assert event.source_id == web_source.id
    assert event.anonymous_id == anonymous_id
    assert event.channel == "web"
    assert event.context == context
    assert event.occurred_at == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    for column, value in expected.items():
        assert getattr(event, column) == value, column


def test_the_endpoint_decides_the_type_not_the_body(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    message_id = uid("msg")
    body = {"type": "identify", "anonymousId": uid(), "messageId": message_id, "name": "Home"}
    assert post_v1(app_client, web_source, "page", body).status_code == 200
    [event] = events_by_message_id(db, message_id)
    assert event.type == "page"


def test_explicit_nulls_for_optional_fields_are_accepted(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    nulls = {
        key: None
        for key in (
            "userId",
            "timestamp",
            "originalTimestamp",
            "sentAt",
            "context",
            "integrations",
            "properties",
            "traits",
            "category",
            "name",
        )
    }
    single_anon, batch_anon = uid(), uid()
    single = {"anonymousId": single_anon, "event": "Brochure Viewed", "messageId": uid(), **nulls}
    response = post_v1(app_client, web_source, "track", single)
    assert response.status_code == 200, response.text

    batch = {
        "batch": [
            {"type": "page", "anonymousId": batch_anon, "messageId": None, **nulls},
            {"type": "identify", "anonymousId": batch_anon, **nulls},
        ],
        "context": None,
        "integrations": None,
        "sentAt": None,
    }
    response = post_v1(app_client, web_source, "batch", batch)
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == []

    [tracked] = events_by_anonymous_id(db, single_anon)
    assert (tracked.name, tracked.properties, tracked.traits) == ("Brochure Viewed", {}, {})
    assert [e.type for e in events_by_anonymous_id(db, batch_anon)] == ["page", "identify"]


# --- batches --------------------------------------------------------------------------------


def test_batch_stores_valid_messages_and_rejects_each_invalid_one_with_index_and_reason(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    invalid: dict[int, Any] = {
        1: 42,  # not an object
        2: {"type": "track", "anonymousId": anon},  # no event name
        3: {"type": "identify", "traits": {"firstName": "Nobody"}},  # no id at all
        5: {"type": "purchase", "anonymousId": anon},  # not a Segment call type
        6: {"type": "track", "anonymousId": anon, "event": "X", "timestamp": "yesterday"},
        7: {"type": "group", "anonymousId": anon},  # no groupId
        8: {"type": "alias", "userId": "u-1"},  # no previousId
    }
    valid = {
        0: {"type": "track", "anonymousId": anon, "event": "Option Selected", "messageId": uid()},
        4: {"type": "page", "anonymousId": anon, "name": "Summary", "messageId": uid()},
    }
    messages = [valid.get(i, invalid.get(i)) for i in range(9)]

    response = post_v1(app_client, web_source, "batch", {"batch": messages})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["accepted"] == 2
    rejected = {r["index"]: r for r in body["rejected"]}
    assert sorted(rejected) == sorted(invalid)
    assert all(r["reason"] for r in rejected.values())
    assert rejected[2]["field"] == "event"
    assert rejected[5]["field"] == "type"
    assert rejected[6]["field"] == "timestamp"
    assert rejected[7]["field"] == "groupId"
    assert rejected[8]["field"] == "previousId"

    assert [e.message_id for e in events_by_anonymous_id(db, anon)] == [
        valid[0]["messageId"],
        valid[4]["messageId"],
    ]
    kept = quarantine_of(db, web_source)
    assert [q.batch_index for q in kept] == sorted(invalid)
    for row in kept:
        assert row.endpoint == "batch"
        assert row.batch_index is not None
        assert json.loads(row.raw) == invalid[row.batch_index]
        assert rejected[row.batch_index]["reason"] in row.reason


def test_batch_without_any_valid_message_is_a_400_and_everything_is_quarantined(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    messages = [{"type": "track", "anonymousId": uid()}, "not a message"]
    response = post_v1(app_client, web_source, "batch", {"batch": messages})
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert [r["index"] for r in body["rejected"]] == [0, 1]
    assert len(quarantine_of(db, web_source)) == 2


@pytest.mark.parametrize("batch", [None, {"type": "track"}, "track", 3])
def test_batch_field_must_be_a_list(
    app_client: TestClient, web_source: SourceKey, batch: Any
) -> None:
    response = post_v1(app_client, web_source, "batch", {"batch": batch})
    assert response.status_code == 400
    assert response.json()["field"] == "batch"


def test_invalid_single_message_is_a_400_naming_the_field_and_is_quarantined(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    body = {"anonymousId": uid(), "properties": {"model": "Aurora"}}
    response = post_v1(app_client, web_source, "track", body)
    assert response.status_code == 400
    error = response.json()
    assert error["success"] is False
    assert error["field"] == "event"
    assert "event" in error["detail"]
    [row] = quarantine_of(db, web_source)
    assert row.endpoint == "track"
    assert "event" in row.reason
    assert json.loads(row.raw)["properties"] == {"model": "Aurora"}


def test_a_nul_character_is_refused_per_message_and_quarantined(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    """JSON may carry \\u0000; PostgreSQL stores it nowhere. It used to fail the whole
    request with a 500, losing the batch's valid messages with it."""
    anon = uid()
    single = {"anonymousId": anon, "event": "Option Selected", "properties": {"label": "a\x00b"}}
    response = post_v1(app_client, web_source, "track", single)
    assert response.status_code == 400
    assert response.json()["field"] == "properties.label"
    assert "NUL" in response.json()["detail"]

    good = {"type": "track", "anonymousId": anon, "event": "Option Selected", "messageId": uid()}
    batch = [
        {**good, "messageId": uid(), "properties": {"k\x00": "v"}},  # in a key
        good,
        {**good, "messageId": uid(), "anonymousId": "x\x00"},
        {**good, "messageId": uid(), "properties": {"path": "C:\\u0000"}},  # no NUL: stored
    ]
    response = post_v1(app_client, web_source, "batch", {"batch": batch})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["accepted"] == 2
    assert [(r["index"], r["field"]) for r in result["rejected"]] == [
        (0, "properties.k\\u0000"),
        (2, "anonymousId"),
    ]
    stored = events_by_anonymous_id(db, anon)
    assert [e.message_id for e in stored] == [good["messageId"], batch[3]["messageId"]]
    assert stored[1].properties == {"path": "C:\\u0000"}
    quarantined = quarantine_of(db, web_source)
    assert [(q.endpoint, q.batch_index) for q in quarantined] == [
        ("track", 0),
        ("batch", 0),
        ("batch", 2),
    ]
    assert json.loads(quarantined[0].raw)["properties"] == {"label": "a\x00b"}

    # A NUL in the batch's own context reaches every message: nothing valid is left.
    response = post_v1(
        app_client, web_source, "batch", {"batch": [good], "context": {"page": {"title": "\x00"}}}
    )
    assert response.status_code == 400
    assert response.json()["field"] == "context.page.title"


def test_values_longer_than_their_columns_are_cut_or_ignored_not_a_500(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    """Overlong identifiers are not used (with a warning); configuration labels are cut to
    their column's width. Both used to fail the request on PostgreSQL. A configuration code
    longer than a code can be is neither an identifier nor a saved configuration."""
    anon = uid()
    long_email = "a" * 20000 + "@example.com"
    response = post_v1(
        app_client, web_source, "identify", {"anonymousId": anon, "traits": {"email": long_email}}
    )
    assert response.status_code == 200, response.text
    saved = {
        "anonymousId": anon,
        "event": "Configuration Saved",
        "properties": {
            "configuration_code": "nw-long1",
            "model": "M" * 2500,
            "colour": "C" * 2500,
            "fuel": "plug-in hybrid, petrol-electric",
            "body_type": "B" * 100,
        },
    }
    response = post_v1(app_client, web_source, "track", saved)
    assert response.status_code == 200, response.text
    for code in ("C" * 101, "C" * 5000):
        overlong = {**saved, "properties": {"configuration_code": code, "model": "Aurora"}}
        response = post_v1(app_client, web_source, "track", overlong)
        assert response.status_code == 200, response.text
    db.expire_all()
    [profile_id] = {e.profile_id for e in events_by_anonymous_id(db, anon)}
    identities = db.scalars(select(Identity).where(Identity.profile_id == profile_id)).all()
    assert sorted((i.kind, i.value) for i in identities) == [
        ("anonymous_id", anon),
        ("config_code", "NW-LONG1"),
    ]
    warnings = db.scalars(
        select(IdentityWarning.detail).where(IdentityWarning.profile_id == profile_id)
    ).all()
    assert any("email" in w for w in warnings)
    assert sum("config_code ignored: longer than 100" in w for w in warnings) == 2
    configuration = db.scalars(
        select(Configuration).where(Configuration.profile_id == profile_id)
    ).one()
    assert configuration.model == "M" * 200 and configuration.colour == "C" * 200
    assert configuration.code == "NW-LONG1"
    assert configuration.fuel == "plug-in hybrid, petr" and configuration.body_type == "b" * 40


def test_batch_level_context_applies_to_messages_without_their_own(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    context = {"library": {"name": "analytics-python", "version": "2.3"}, "ip": "192.0.2.7"}
    batch = {
        "context": context,
        "batch": [
            {"type": "page", "anonymousId": anon, "name": "Home"},
            {"type": "page", "anonymousId": anon, "name": "Models", "context": None},
        ],
    }
    assert post_v1(app_client, web_source, "batch", batch).status_code == 200
    events = events_by_anonymous_id(db, anon)
    assert [e.context for e in events] == [context, context]


def test_batch_level_context_is_merged_with_a_message_context(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    """Segment: batch context "will be merged with any context inside each of the items"."""
    anon = uid()
    batch = {
        "context": {"library": {"name": "analytics-python"}, "ip": "192.0.2.7"},
        "batch": [{"type": "page", "anonymousId": anon, "context": {"page": {"path": "/x"}}}],
    }
    assert post_v1(app_client, web_source, "batch", batch).status_code == 200
    [event] = events_by_anonymous_id(db, anon)
    assert event.context["page"] == {"path": "/x"}
    assert event.context["library"] == {"name": "analytics-python"}
    assert event.context["ip"] == "192.0.2.7"


# --- auth -----------------------------------------------------------------------------------


def _track_body(anon: str) -> dict[str, Any]:
    return {"anonymousId": anon, "event": "Configuration Started", "messageId": uid("msg")}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic " + base64.b64encode(b"wk_not-a-real-key:").decode()},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Bearer wk_not-a-real-key"},
        {"Authorization": "Basic " + base64.b64encode(b":").decode()},
    ],
    ids=["missing", "unknown", "garbled", "bearer", "empty-user"],
)
def test_missing_or_unknown_write_key_is_401_and_nothing_is_stored(
    app_client: TestClient, db: Session, web_source: SourceKey, headers: dict[str, str]
) -> None:
    anon = uid()
    response = app_client.post("/v1/track", json=_track_body(anon), headers=headers)
    assert response.status_code == 401
    error = response.json()
    assert error["success"] is False
    assert error["field"] == "writeKey"
    assert events_by_anonymous_id(db, anon) == []
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(QuarantinedMessage)) == 0


def test_unknown_write_key_in_a_batch_is_401(app_client: TestClient, db: Session) -> None:
    anon = uid()
    body = {"writeKey": "wk_unknown", "batch": [{"type": "page", "anonymousId": anon}]}
    response = app_client.post("/v1/batch", json=body)
    assert response.status_code == 401
    assert events_by_anonymous_id(db, anon) == []
    # Segment's libraries report a refusal from `code` and `message`.
    assert response.json()["code"] == "unauthorized"
    assert response.json()["message"] == "writeKey: unknown or inactive write key"


def test_write_key_in_the_body_works(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon, batch_anon = uid(), uid()
    single = {**_track_body(anon), "writeKey": web_source.key}
    assert app_client.post("/v1/track", json=single).status_code == 200
    batch = {"writeKey": web_source.key, "batch": [{"type": "page", "anonymousId": batch_anon}]}
    assert app_client.post("/v1/batch", json=batch).status_code == 200
    [event] = events_by_anonymous_id(db, anon)
    assert event.source_id == web_source.id
    assert "writeKey" not in event.properties
    assert len(events_by_anonymous_id(db, batch_anon)) == 1


def test_inactive_source_is_rejected(
    app_client: TestClient, session_factory: sessionmaker[Session], db: Session
) -> None:
    source = make_source(session_factory)
    with session_factory() as session:
        session.execute(update(Source).where(Source.id == source.id).values(active=False))
        session.commit()
    anon = uid()
    response = post_v1(app_client, source, "track", _track_body(anon))
    assert response.status_code == 401
    assert events_by_anonymous_id(db, anon) == []


# --- CORS -----------------------------------------------------------------------------------


def test_post_from_a_registered_origin_gets_the_allow_origin_header(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    response = post_v1(app_client, web_source, "track", _track_body(anon), {"Origin": ORIGIN})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in response.headers.get("vary", "")
    assert len(events_by_anonymous_id(db, anon)) == 1


def test_error_responses_to_a_registered_origin_are_readable_by_the_page(
    app_client: TestClient, web_source: SourceKey
) -> None:
    response = post_v1(app_client, web_source, "track", {"anonymousId": uid()}, {"Origin": ORIGIN})
    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_a_malformed_origin_is_refused_not_a_500(
    app_client: TestClient, web_source: SourceKey
) -> None:
    for origin in ("http://x.example:99999", "http://[::1", "https://x.example:abc"):
        response = post_v1(
            app_client, web_source, "track", _track_body(uid()), headers={"Origin": origin}
        )
        assert response.status_code == 403, (origin, response.text)
        assert response.json()["field"] == "Origin"
        preflight = app_client.options("/v1/track", headers={"Origin": origin})
        assert preflight.status_code == 403


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example.net", "http://configurator.example.com", "https://example.com", "null"],
)
def test_post_from_an_unregistered_origin_is_403_and_nothing_is_stored(
    app_client: TestClient, web_source: SourceKey, db: Session, origin: str
) -> None:
    anon = uid()
    response = post_v1(app_client, web_source, "track", _track_body(anon), {"Origin": origin})
    assert response.status_code == 403
    assert response.json()["field"] == "Origin"
    assert "access-control-allow-origin" not in response.headers
    assert events_by_anonymous_id(db, anon) == []


def test_origin_registered_on_another_source_is_403(
    app_client: TestClient, showroom_source: SourceKey, web_source: SourceKey, db: Session
) -> None:
    """The web source registers ORIGIN; the showroom source has no origins at all."""
    anon = uid()
    response = post_v1(app_client, showroom_source, "track", _track_body(anon), {"Origin": ORIGIN})
    assert response.status_code == 403
    assert events_by_anonymous_id(db, anon) == []


def test_preflight_from_a_registered_origin_is_allowed(
    app_client: TestClient, web_source: SourceKey
) -> None:
    for endpoint in ("track", "identify", "batch"):
        response = app_client.options(
            f"/v1/{endpoint}",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert response.status_code in (200, 204)
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in response.headers["access-control-allow-methods"]
        allowed = response.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed
        assert "content-type" in allowed


@pytest.mark.parametrize("origin", ["https://evil.example.net", "null", "not an origin", None])
def test_preflight_from_an_unregistered_origin_is_refused(
    app_client: TestClient, web_source: SourceKey, origin: str | None
) -> None:
    headers = {"Access-Control-Request-Method": "POST"}
    if origin is not None:
        headers["Origin"] = origin
    response = app_client.options("/v1/track", headers=headers)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


# --- limits and malformed bodies ------------------------------------------------------------


def test_single_message_over_32_kb_is_413_and_not_stored(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    body = {**_track_body(anon), "properties": {"notes": "x" * MAX_MESSAGE_BYTES}}
    response = post_v1(app_client, web_source, "track", body)
    assert response.status_code == 413
    error = response.json()
    assert error["success"] is False
    assert str(MAX_MESSAGE_BYTES) in error["detail"]
    assert events_by_anonymous_id(db, anon) == []


def test_single_message_just_under_32_kb_is_stored(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    body = {**_track_body(anon), "properties": {"notes": "x" * (MAX_MESSAGE_BYTES - 500)}}
    assert post_v1(app_client, web_source, "track", body).status_code == 200
    assert len(events_by_anonymous_id(db, anon)) == 1


def test_message_over_32_kb_inside_a_batch_is_rejected_alone(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    big = {
        "type": "track",
        "anonymousId": anon,
        "event": "Big",
        "properties": {"blob": "y" * 40_000},
    }
    small = {"type": "track", "anonymousId": anon, "event": "Small"}
    response = post_v1(app_client, web_source, "batch", {"batch": [small, big, small]})
    assert response.status_code == 200, response.text
    body = response.json()
    [rejection] = body["rejected"]
    assert rejection["index"] == 1
    assert str(MAX_MESSAGE_BYTES) in rejection["reason"]
    assert [e.name for e in events_by_anonymous_id(db, anon)] == ["Small", "Small"]
    [row] = quarantine_of(db, web_source)
    assert row.batch_index == 1


def test_batch_request_over_500_kb_is_413_naming_the_limit(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    message = {
        "type": "track",
        "anonymousId": anon,
        "event": "E",
        "properties": {"p": "z" * 20_000},
    }
    batch = {"batch": [message] * 30}  # about 600 KB, each message under 32 KB
    response = post_v1(app_client, web_source, "batch", batch)
    assert response.status_code == 413
    error = response.json()
    assert error["success"] is False
    assert str(MAX_BATCH_BYTES) in error["detail"] or "500 KB" in error["detail"]
    assert events_by_anonymous_id(db, anon) == []


@pytest.mark.parametrize("endpoint", ["track", "batch"])
def test_malformed_json_is_400_saying_where(
    app_client: TestClient, web_source: SourceKey, endpoint: str
) -> None:
    response = post_v1_raw(app_client, web_source, endpoint, b'{"anonymousId": "a",\n  "event": }')
    assert response.status_code == 400
    error = response.json()
    assert error["success"] is False
    assert "line 2" in error["detail"]
    assert "column" in error["detail"]


@pytest.mark.parametrize("content", [b"[]", b'"track"', b"42", b"null", b""])
def test_non_object_json_is_400(
    app_client: TestClient, web_source: SourceKey, content: bytes
) -> None:
    response = post_v1_raw(app_client, web_source, "track", content)
    assert response.status_code == 400
    assert response.json()["success"] is False


# --- idempotency ----------------------------------------------------------------------------


def test_same_message_id_twice_is_stored_once(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    body = _track_body(uid())
    first = post_v1(app_client, web_source, "track", body)
    second = post_v1(app_client, web_source, "track", body)
    assert first.status_code == second.status_code == 200
    assert second.json()["success"] is True
    assert second.json()["duplicates"] == 1
    assert len(events_by_message_id(db, body["messageId"])) == 1


def test_message_id_already_stored_is_not_stored_again_from_a_batch(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    body = _track_body(uid())
    post_v1(app_client, web_source, "track", body)
    fresh = {"type": "page", "anonymousId": body["anonymousId"], "messageId": uid("msg")}
    response = post_v1(
        app_client, web_source, "batch", {"batch": [{**body, "type": "track"}, fresh]}
    )
    assert response.status_code == 200
    assert response.json()["duplicates"] == 1
    assert len(events_by_message_id(db, body["messageId"])) == 1
    assert len(events_by_message_id(db, fresh["messageId"])) == 1


@pytest.mark.parametrize("early_commit_from", [1, 10_000], ids=["early identities", "one go"])
def test_a_message_id_sent_again_with_other_identifiers_changes_no_profile(
    app_client: TestClient,
    web_source: SourceKey,
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
    early_commit_from: int,
) -> None:
    """A client that reuses a messageId for another message gets it counted as a duplicate, and
    nothing of it is used: no profile made, no two profiles merged, whether the identities of
    the transaction are committed early (batches) or with the rest."""
    monkeypatch.setattr(ingest_service, "EARLY_COMMIT_FROM", early_commit_from)
    anna_device, bram_device, new_device = uid(), uid(), uid()
    email = f"{uid('anna')}@example.nl"
    message_id = uid("msg")
    first = {"anonymousId": anna_device, "messageId": message_id, "traits": {"email": email}}
    assert post_v1(app_client, web_source, "identify", first).status_code == 200
    assert post_v1(app_client, web_source, "page", {"anonymousId": bram_device}).status_code == 200

    for reused in (
        {"anonymousId": new_device, "messageId": message_id, "traits": {"email": uid() + "@x.nl"}},
        {"anonymousId": bram_device, "messageId": message_id, "traits": {"email": email}},
    ):
        response = post_v1(app_client, web_source, "identify", reused)
        assert response.status_code == 200, response.text
        assert response.json()["duplicates"] == 1

    db.expire_all()
    owners = {
        value: db.scalar(select(Identity.profile_id).where(Identity.value == value))
        for value in (anna_device, bram_device, new_device)
    }
    assert owners[new_device] is None  # no profile for the reused id's new visitor
    assert owners[anna_device] != owners[bram_device]  # and no merge
    assert (
        db.scalar(
            select(func.count())
            .select_from(ProfileMerge)
            .where(ProfileMerge.absorbed_id.in_([owners[anna_device], owners[bram_device]]))
        )
        == 0
    )
    assert len(events_by_message_id(db, message_id)) == 1


def test_duplicates_within_one_batch_are_stored_once(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    message = {"type": "track", **_track_body(uid())}
    response = post_v1(app_client, web_source, "batch", {"batch": [message, message, message]})
    assert response.status_code == 200
    assert response.json()["duplicates"] == 2
    assert len(events_by_message_id(db, message["messageId"])) == 1


def test_same_message_id_from_another_source_is_stored(
    app_client: TestClient, web_source: SourceKey, showroom_source: SourceKey, db: Session
) -> None:
    body = _track_body(uid())
    post_v1(app_client, web_source, "track", body)
    post_v1(app_client, showroom_source, "track", body)
    events = events_by_message_id(db, body["messageId"])
    assert sorted(e.source_id for e in events) == sorted([web_source.id, showroom_source.id])


def test_a_retried_configuration_is_not_recorded_twice(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    code = uid("CODE").upper()
    body = {
        "anonymousId": uid(),
        "messageId": uid("msg"),
        "event": "Configuration Saved",
        "properties": {"configuration_code": code, "model": "Aurora"},
    }
    post_v1(app_client, web_source, "track", body)
    post_v1(app_client, web_source, "batch", {"batch": [{**body, "type": "track"}]})
    db.expire_all()
    assert db.scalar(select(func.count()).where(Configuration.code == code)) == 1


# --- time -----------------------------------------------------------------------------------

SKEW = timedelta(hours=3, minutes=7)  # the device clock is this far ahead of ours


def test_clock_skew_is_corrected_with_sent_at(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    device_now = datetime.now(UTC) + SKEW
    body = {
        **_track_body(anon),
        "timestamp": iso(device_now - timedelta(seconds=40)),  # happened 40 s before sending
        "sentAt": iso(device_now),
    }
    before = datetime.now(UTC)
    assert post_v1(app_client, web_source, "track", body).status_code == 200
    after = datetime.now(UTC)
    [event] = events_by_anonymous_id(db, anon)
    assert before <= event.received_at <= after
    assert event.occurred_at == event.received_at - timedelta(seconds=40)


def test_batch_level_sent_at_corrects_every_message(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    device_now = datetime.now(UTC) - SKEW  # this device is behind
    batch = {
        "sentAt": iso(device_now),
        "batch": [
            {
                "type": "page",
                "anonymousId": anon,
                "timestamp": iso(device_now - timedelta(minutes=5)),
            },
            {
                "type": "page",
                "anonymousId": anon,
                "timestamp": iso(device_now - timedelta(minutes=1)),
            },
            {  # its own sentAt wins over the batch's
                "type": "page",
                "anonymousId": anon,
                "timestamp": iso(device_now - timedelta(minutes=2)),
                "sentAt": iso(device_now - timedelta(minutes=1)),
            },
        ],
    }
    before = datetime.now(UTC)
    assert post_v1(app_client, web_source, "batch", batch).status_code == 200
    after = datetime.now(UTC)
    events = events_by_anonymous_id(db, anon)
    ago = [timedelta(minutes=5), timedelta(minutes=1), timedelta(minutes=1)]
    for event, delta in zip(events, ago, strict=True):
        assert before - delta <= event.occurred_at <= after - delta
        assert event.occurred_at == event.received_at - delta


def test_timestamp_without_sent_at_is_taken_as_is(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    body = {**_track_body(anon), "timestamp": "2026-02-03T04:05:06.789+01:00"}
    post_v1(app_client, web_source, "track", body)
    [event] = events_by_anonymous_id(db, anon)
    assert event.occurred_at == datetime(2026, 2, 3, 3, 5, 6, 789000, tzinfo=UTC)


def test_original_timestamp_is_used_when_timestamp_is_missing(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    body = {**_track_body(anon), "originalTimestamp": "2026-02-03T04:05:06Z"}
    post_v1(app_client, web_source, "track", body)
    [event] = events_by_anonymous_id(db, anon)
    assert event.occurred_at == datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_message_without_any_time_happened_when_received(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    before = datetime.now(UTC)
    post_v1(app_client, web_source, "track", _track_body(anon))
    after = datetime.now(UTC)
    [event] = events_by_anonymous_id(db, anon)
    assert before <= event.occurred_at <= after


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"timestamp": "9999-12-31T23:59:59Z"}, "more than a day ahead"),
        ({"timestamp": "0001-01-01T00:00:00Z"}, "before 2000"),
        ({"timestamp": "1999-12-31T23:59:59Z"}, "before 2000"),
        ({"timestamp": "9999-12-31T23:59:59Z", "sentAt": "0001-01-01T00:00:00Z"}, "centuries"),
        ({"originalTimestamp": "2300-01-01T00:00:00Z"}, "more than a day ahead"),
    ],
)
def test_impossible_event_times_are_refused_and_quarantined(
    app_client: TestClient, web_source: SourceKey, db: Session, fields: dict[str, str], says: str
) -> None:
    anon = uid()
    response = post_v1(app_client, web_source, "track", {**_track_body(anon), **fields})
    assert response.status_code == 400
    assert response.json()["field"] == "timestamp" and says in response.json()["detail"]
    assert events_by_anonymous_id(db, anon) == []
    batch = {
        "batch": [
            {**_track_body(anon), "type": "track", **fields},
            _track_body(uid()) | {"type": "track"},
        ]
    }
    mixed = post_v1(app_client, web_source, "batch", batch)
    assert mixed.status_code == 200 and mixed.json()["accepted"] == 1
    assert [r["index"] for r in mixed.json()["rejected"]] == [0]


def test_a_clock_a_few_hours_ahead_is_still_accepted(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    ahead = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    assert (
        post_v1(
            app_client, web_source, "track", {**_track_body(anon), "timestamp": ahead}
        ).status_code
        == 200
    )
    assert len(events_by_anonymous_id(db, anon)) == 1


def test_a_gzip_body_is_read_as_segment_libraries_send_it(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anon = uid()
    body = gzip.compress(json.dumps({"batch": [{**_track_body(anon), "type": "track"}]}).encode())
    headers = {**web_source.auth, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    response = app_client.post("/v1/batch", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert len(events_by_anonymous_id(db, anon)) == 1


def test_a_gzip_bomb_is_refused_by_what_it_inflates_to(
    app_client: TestClient, web_source: SourceKey
) -> None:
    padding = " " * (MAX_BATCH_BYTES * 20)  # 10 MB of JSON whitespace: about 10 KB compressed
    body = gzip.compress(("{" + padding + '"batch": []}').encode())
    assert len(body) < MAX_BATCH_BYTES
    headers = {**web_source.auth, "Content-Encoding": "gzip"}
    response = app_client.post("/v1/batch", content=body, headers=headers)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("encoding", "body"), [("gzip", b"not gzip at all"), ("br", b"{}"), ("gzip", b"\x1f\x8b\x08")]
)
def test_an_unreadable_encoding_is_a_400_naming_the_header(
    app_client: TestClient, web_source: SourceKey, encoding: str, body: bytes
) -> None:
    headers = {**web_source.auth, "Content-Encoding": encoding}
    response = app_client.post("/v1/track", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["field"] == "Content-Encoding"
