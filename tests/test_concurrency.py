"""Truly simultaneous requests through a real HTTP server on PostgreSQL.

A fresh, migrated PostgreSQL database and the app served by uvicorn in a background thread;
requests are fired from a thread pool, released together by a barrier, over real sockets.
Covers: several devices introducing the same new email at once end in one profile; existing
anonymous profiles identified at once are merged into one (every event kept); retries of one
message racing each other are stored once. Each scenario runs several rounds. SQLite is skipped:
it lets one writer in at a time, so there is no race to test.
"""

from __future__ import annotations

import base64
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session

from cdp.app import create_app
from cdp.auth.service import create_source
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.migrate import upgrade
from cdp.models import Event, Identity, Profile, ProfileMerge
from tests.helpers import PG_ADMIN_URL, fresh_database_url

PARALLEL = 8
ROUNDS = 4
TIMEOUT = 30.0


@dataclass
class LiveServer:
    base_url: str
    auth: dict[str, str]
    engine: Engine

    def session(self) -> Session:
        return Session(self.engine)


@pytest.fixture()
def live_server(db_kind: str, tmp_path: Path) -> Iterator[LiveServer]:
    if db_kind != "postgresql":
        pytest.skip("SQLite has one writer at a time: concurrency is a PostgreSQL concern")
    url = fresh_database_url("postgresql", tmp_path, f"concurrency_{uuid.uuid4().hex[:6]}")
    engine = make_engine(url)
    upgrade(engine)
    with make_sessionmaker(engine)() as session:
        _source, key = create_source(session, name="concurrent site", kind="web", origins=[])
        session.commit()

    app = create_app(Settings(database_url=url, db_pool_size=PARALLEL * 2))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    basic = base64.b64encode(f"{key}:".encode()).decode()
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", {"Authorization": f"Basic {basic}"}, engine)
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        sock.close()
        engine.dispose()
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            db_name = url.rsplit("/", 1)[1]
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()


def fire_together(
    server: LiveServer, calls: list[tuple[str, dict[str, Any]]]
) -> list[httpx.Response]:
    """POST every (endpoint, body) at the same moment, one thread and connection each."""
    barrier = threading.Barrier(len(calls), timeout=TIMEOUT)

    def call(endpoint: str, body: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as client:
            client.get("/healthz")  # open the connection before the barrier
            barrier.wait()
            return client.post(f"/v1/{endpoint}", json=body, headers=server.auth)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call, endpoint, body) for endpoint, body in calls]
        return [f.result(timeout=TIMEOUT * 2) for f in futures]


def post(server: LiveServer, endpoint: str, body: dict[str, Any]) -> None:
    response = httpx.post(f"{server.base_url}/v1/{endpoint}", json=body, headers=server.auth)
    assert response.status_code == 200, response.text


def owners(session: Session, values: list[str]) -> set[uuid.UUID]:
    return set(session.scalars(select(Identity.profile_id).where(Identity.value.in_(values))))


def assert_all_ok(responses: list[httpx.Response]) -> None:
    for response in responses:
        assert response.status_code == 200, response.text
        assert response.json()["success"] is True


def rounds(scenario: Callable[[str], None]) -> None:
    for n in range(ROUNDS):
        scenario(f"r{n}-{uuid.uuid4().hex[:8]}")


def test_simultaneous_requests_introducing_one_new_email_make_one_profile(
    live_server: LiveServer,
) -> None:
    def scenario(run: str) -> None:
        email = f"race.{run}@example.nl"
        devices = [f"{run}-device-{i}" for i in range(PARALLEL)]
        calls = [
            ("identify", {"anonymousId": d, "messageId": f"{d}-id", "traits": {"email": email}})
            for d in devices
        ]
        assert_all_ok(fire_together(live_server, calls))

        with live_server.session() as session:
            [profile] = owners(session, [email, *devices])
            assert session.scalar(select(func.count()).where(Identity.value == email)) == 1
            events = session.scalars(
                select(Event.profile_id).where(Event.anonymous_id.in_(devices))
            ).all()
            assert events == [profile] * PARALLEL
            assert (
                session.scalar(select(Profile.merged_into_id).where(Profile.id == profile)) is None
            )

    rounds(scenario)


def test_simultaneous_identifies_merge_existing_anonymous_profiles_into_one(
    live_server: LiveServer,
) -> None:
    def scenario(run: str) -> None:
        email = f"merge.{run}@example.nl"
        devices = [f"{run}-device-{i}" for i in range(PARALLEL)]
        for d in devices:  # each device browsed anonymously first: one profile each
            post(live_server, "page", {"anonymousId": d, "messageId": f"{d}-page", "name": "Home"})
        with live_server.session() as session:
            before = owners(session, devices)
        assert len(before) == PARALLEL

        calls = [
            ("identify", {"anonymousId": d, "messageId": f"{d}-id", "traits": {"email": email}})
            for d in devices
        ]
        assert_all_ok(fire_together(live_server, calls))

        with live_server.session() as session:
            [survivor] = owners(session, [email, *devices])
            assert survivor in before
            events = session.scalars(
                select(Event.profile_id).where(Event.anonymous_id.in_(devices))
            ).all()
            assert events == [survivor] * (2 * PARALLEL)
            absorbed = before - {survivor}
            merged_into = dict(
                session.execute(
                    select(Profile.id, Profile.merged_into_id).where(Profile.id.in_(absorbed))
                ).all()
            )
            assert merged_into == dict.fromkeys(absorbed, survivor)
            merges = session.scalars(
                select(ProfileMerge.absorbed_id).where(ProfileMerge.absorbed_id.in_(absorbed))
            ).all()
            assert sorted(merges) == sorted(absorbed)

    rounds(scenario)


def test_racing_retries_of_one_message_are_stored_once(live_server: LiveServer) -> None:
    def scenario(run: str) -> None:
        body: dict[str, Any] = {
            "anonymousId": f"{run}-device",
            "messageId": f"{run}-retry",
            "event": "Configuration Saved",
            "properties": {"configuration_code": f"{run}-code", "model": "Aurora"},
        }
        responses = fire_together(live_server, [("track", body)] * PARALLEL)
        assert_all_ok(responses)
        assert sum(r.json()["duplicates"] for r in responses) == PARALLEL - 1

        with live_server.session() as session:
            assert (
                session.scalar(select(func.count()).where(Event.message_id == body["messageId"]))
                == 1
            )
            assert len(owners(session, [body["anonymousId"]])) == 1
            assert (
                session.scalar(select(func.count()).where(Identity.value == body["anonymousId"]))
                == 1
            )

    rounds(scenario)
