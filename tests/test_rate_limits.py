"""Rate limits per write key (/v1) and per API token (/api): 429 with Retry-After, decided before
the request's body is read, one key's excess leaving the others and the rest of the app alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cdp.app import create_app
from cdp.config import Settings
from tests.helpers import SourceKey, make_source, make_token, post_v1, uid

# Two requests at once, then one every ~17 minutes: the third request in a test is refused.
RATE = 0.001
BURST = 2


@pytest.fixture()
def limited_client(
    engine: Engine, session_factory: sessionmaker[Session], migrated_url: str
) -> Iterator[TestClient]:
    settings = Settings(
        database_url=migrated_url,
        write_key_rate_limit=RATE,
        write_key_burst=BURST,
        api_token_rate_limit=RATE,
        api_token_burst=BURST,
    )
    app = create_app(settings, engine=engine, session_factory=session_factory)
    with TestClient(app) as client:
        yield client


def _track() -> dict[str, object]:
    return {"anonymousId": uid(), "event": "Configurator Opened"}


class WatchedBody:
    """A request body that notes whether the server read any of it."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.was_read = False

    def __iter__(self) -> Iterator[bytes]:
        self.was_read = True
        yield self.content


def _use_up(client: TestClient, source: SourceKey) -> None:
    for _ in range(BURST):
        assert post_v1(client, source, "track", _track()).status_code == 200


def test_write_key_over_its_limit_gets_429_with_retry_after(
    limited_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    source = make_source(session_factory)
    _use_up(limited_client, source)

    refused = post_v1(limited_client, source, "track", _track())
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    body = refused.json()
    assert body["error"] == "rate limited"
    assert body["field"] == "writeKey"
    assert "retry in" in body["detail"]


def test_429_comes_before_the_body_is_read(
    limited_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    source = make_source(session_factory)
    _use_up(limited_client, source)

    # Not JSON, and far over the size limit: still 429, and not a byte of it read.
    huge = WatchedBody(b"{not json" * 200_000)
    refused = limited_client.post(
        "/v1/batch",
        content=huge,
        headers={**source.auth, "Content-Type": "application/json"},
    )
    assert refused.status_code == 429
    assert not huge.was_read
    invalid = limited_client.post(
        "/v1/t", content=b"{not json", headers={**source.auth, "Content-Type": "text/plain"}
    )
    assert invalid.status_code == 429


def test_other_keys_healthz_and_staff_pages_are_unaffected(
    limited_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    busy, quiet = make_source(session_factory), make_source(session_factory)
    _use_up(limited_client, busy)
    assert post_v1(limited_client, busy, "track", _track()).status_code == 429

    assert post_v1(limited_client, quiet, "track", _track()).status_code == 200
    assert limited_client.get("/healthz").status_code == 200
    assert limited_client.get("/login").status_code == 200


def test_a_write_key_in_the_body_is_limited_too(
    limited_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    # analytics.js sends the key in the body (no Authorization header).
    source = make_source(session_factory)
    answers = [
        post_v1(limited_client, None, "t", {**_track(), "writeKey": source.key}).status_code
        for _ in range(BURST + 1)
    ]
    assert answers == [200] * BURST + [429]


def test_api_token_over_its_limit_gets_429_before_the_body_is_read(
    limited_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    busy = make_token(session_factory, role="admin")
    quiet = make_token(session_factory)
    for _ in range(BURST):
        assert limited_client.get("/api/profiles?q=x", headers=busy).status_code == 200

    refused = limited_client.get("/api/profiles?q=x", headers=busy)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"] == "rate limited"
    assert refused.json()["field"] == "Authorization"
    body = WatchedBody(b"{not json" * 200_000)
    erasure = limited_client.post(
        "/api/profiles/00000000-0000-0000-0000-000000000000/erasure",
        content=body,
        headers={**busy, "Content-Type": "application/json"},
    )
    assert erasure.status_code == 429
    assert not body.was_read

    assert limited_client.get("/api/profiles?q=x", headers=quiet).status_code == 200
    assert limited_client.get("/healthz").status_code == 200


def test_default_limits_leave_ordinary_traffic_alone(
    app_client: TestClient, web_source: SourceKey, api_auth: dict[str, str]
) -> None:
    for _ in range(20):
        assert post_v1(app_client, web_source, "track", _track()).status_code == 200
        assert app_client.get("/api/profiles?q=x", headers=api_auth).status_code == 200
