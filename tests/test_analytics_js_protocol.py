"""What analytics.js (Segment's browser library) does over HTTP, answered as it expects.

analytics.js first GETs `{cdnURL}/v1/projects/{writeKey}/settings`, then posts each call to a
one-letter path (`/v1/t`, `/v1/i`, `/v1/p`, `/v1/s`, `/v1/g`, `/v1/a`; `/v1/b` in its batching
mode) with `Content-Type: text/plain` (JSON nonetheless), the write key both as Basic user and in
the body, and `X-Retry-Count` on retries. The real library in a real browser:
tests/e2e/test_analytics_js.py. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.models import Event, QuarantinedMessage
from tests.helpers import SourceKey, make_source

ORIGIN = "https://configurator.example.com"  # registered on the web_source fixture


def test_settings_send_events_here_and_metrics_nowhere(
    app_client: TestClient, web_source: SourceKey
) -> None:
    response = app_client.get(
        f"/v1/projects/{web_source.key}/settings", headers={"Origin": "https://any.example"}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    settings = response.json()
    segment = settings["integrations"]["Segment.io"]
    assert segment["apiKey"] == web_source.key
    assert segment["apiHost"] == "testserver/v1"  # the host the page asked, with the API path
    assert segment["protocol"] == "http"
    assert settings["metrics"]["sampleRate"] == 0  # no usage metrics to Segment's servers
    assert list(settings["integrations"]) == ["Segment.io"]  # no third-party destinations


def test_settings_of_an_unknown_or_inactive_key_are_a_json_404(
    app_client: TestClient, session_factory: Any
) -> None:
    response = app_client.get("/v1/projects/not-a-key/settings")
    assert response.status_code == 404
    assert response.json()["field"] == "writeKey"
    assert response.headers["access-control-allow-origin"] == "*"  # the page can read why


SHORT_PATHS = {
    "t": {"type": "track", "event": "Option Selected", "properties": {"category": "colour"}},
    "i": {"type": "identify", "traits": {"first_name": "Ilse"}},
    "p": {"type": "page", "name": "Configurator", "properties": {"path": "/configure"}},
    "s": {"type": "screen", "name": "Dashboard"},
    "g": {"type": "group", "groupId": "dealer-42"},
}


@pytest.mark.parametrize("path", sorted(SHORT_PATHS))
def test_one_letter_paths_store_the_call_as_text_plain_json(
    app_client: TestClient, web_source: SourceKey, db: Session, path: str
) -> None:
    anonymous_id = f"ajs-{uuid.uuid4().hex[:12]}"
    body = {
        **SHORT_PATHS[path],
        "anonymousId": anonymous_id,
        "messageId": f"ajs-next-{uuid.uuid4().hex}",
        "writeKey": web_source.key,
        "sentAt": "2026-11-23T09:00:00.000Z",
        "timestamp": "2026-11-23T08:59:59.000Z",
    }
    response = app_client.post(
        f"/v1/{path}",
        content=json.dumps(body).encode(),
        headers={**web_source.auth, "Content-Type": "text/plain", "Origin": ORIGIN},
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    stored = db.scalars(select(Event).where(Event.anonymous_id == anonymous_id)).all()
    assert [event.type for event in stored] == [SHORT_PATHS[path]["type"]]


def test_alias_on_its_one_letter_path(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    user = f"user-{uuid.uuid4().hex[:8]}"
    response = app_client.post(
        "/v1/a",
        content=json.dumps(
            {"type": "alias", "previousId": f"anon-{uuid.uuid4().hex[:8]}", "userId": user}
        ).encode(),
        headers={**web_source.auth, "Content-Type": "text/plain"},
    )
    assert response.status_code == 200, response.text
    assert db.scalars(select(Event.type).where(Event.user_id == user)).all() == ["alias"]


def test_batching_mode_posts_to_b(
    app_client: TestClient, web_source: SourceKey, db: Session
) -> None:
    anonymous_id = f"ajs-{uuid.uuid4().hex[:12]}"
    batch = [
        {"type": "page", "anonymousId": anonymous_id, "messageId": uuid.uuid4().hex},
        {"type": "track", "event": "Configuration Started", "anonymousId": anonymous_id,
         "messageId": uuid.uuid4().hex},
    ]  # fmt: skip
    response = app_client.post(
        "/v1/b",
        content=json.dumps({"batch": batch, "writeKey": web_source.key}).encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 200, response.text
    types = db.scalars(select(Event.type).where(Event.anonymous_id == anonymous_id)).all()
    assert sorted(types) == ["page", "track"]


def test_an_invalid_call_on_a_short_path_is_quarantined_under_its_full_name(
    app_client: TestClient, session_factory: Any, db: Session
) -> None:
    source = make_source(session_factory)
    response = app_client.post(
        "/v1/t", content=b'{"anonymousId": "x-1", "properties": {}}', headers=source.auth
    )
    assert response.status_code == 400
    assert response.json()["field"] == "event"
    row = db.scalars(
        select(QuarantinedMessage).where(QuarantinedMessage.source_id == source.id)
    ).one()
    assert row.endpoint == "track"


def test_preflight_allows_the_retry_header(app_client: TestClient, web_source: SourceKey) -> None:
    response = app_client.options(
        "/v1/t",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-retry-count",
        },
    )
    assert response.status_code == 204
    allowed = {
        h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
    }
    assert {"authorization", "content-type", "x-retry-count"} <= allowed
