"""Database fixtures: every test runs on SQLite and on PostgreSQL (when reachable; always in CI).

The schema is made by the Alembic migrations, once per database per test run. Each test then
runs inside a transaction that is rolled back (SQLAlchemy's "join an external transaction"
recipe), so commits inside the app only release a savepoint.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from cdp.app import create_app
from cdp.auth.service import create_source
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.migrate import upgrade
from tests.helpers import (
    PARALLEL,
    PG_ADMIN_URL,
    PG_AVAILABLE,
    TIMEOUT,
    WORKER,
    SourceKey,
    StaffClient,
    ThreadedServer,
    drop_database,
    fresh_database_url,
    make_source,
    make_staff,
    make_token,
    sign_in,
)

if os.environ.get("CI") and not PG_AVAILABLE:
    raise RuntimeError(f"CI needs PostgreSQL at {PG_ADMIN_URL}")


DB_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(scope="session", params=DB_KINDS)
def db_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    if kind == "postgresql" and not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable")
    return kind


@pytest.fixture(scope="session", autouse=True)
def no_database_left_behind() -> Iterator[None]:
    """Fails the run if a test or fixture left one of its PostgreSQL databases behind (named for
    this process by fresh_database_url), after dropping them: CI shares this PostgreSQL, and
    every run would leave another copy. Torn down last, after every other fixture."""
    yield
    if not PG_AVAILABLE:
        return
    suffix = f"_{WORKER}".lower()
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        left = [
            name
            for name in conn.execute(text("SELECT datname FROM pg_database")).scalars()
            if name.startswith("cdp_test_") and name.endswith(suffix)
        ]
        for name in left:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    assert not left, f"test databases left behind (now dropped): {', '.join(sorted(left))}"


@pytest.fixture(scope="session")
def migrated_url(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = fresh_database_url(db_kind, tmp_path_factory.mktemp("db"), "suite")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture()
def session_factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions bound to one connection whose outer transaction is rolled back after the test."""
    connection = engine.connect()
    transaction = connection.begin()
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield factory
    transaction.rollback()
    connection.close()


@pytest.fixture()
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    session = session_factory()
    yield session
    session.close()


@pytest.fixture()
def settings(migrated_url: str) -> Settings:
    # No background delivery to CRMs: it would share the test's one connection from a thread
    # (tests/test_adf_delivery.py runs deliveries itself, with an injected clock).
    return Settings(database_url=migrated_url, adf_delivery_seconds=0)


@pytest.fixture()
def app_client(
    engine: Engine, session_factory: sessionmaker[Session], settings: Settings
) -> Iterator[TestClient]:
    app = create_app(settings, engine=engine, session_factory=session_factory)
    with TestClient(app) as client:
        yield client


@pytest.fixture()
def web_source(session_factory: sessionmaker[Session]) -> SourceKey:
    return make_source(session_factory, kind="web", origins=["https://configurator.example.com"])


@pytest.fixture()
def showroom_source(session_factory: sessionmaker[Session]) -> SourceKey:
    return make_source(session_factory, kind="showroom")


@pytest.fixture()
def api_auth(session_factory: sessionmaker[Session]) -> dict[str, str]:
    return make_token(session_factory)


@pytest.fixture()
def staff_client(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> Callable[[str], StaffClient]:
    """Sign in as a new staff member of the given role: `staff_client("sales")`."""

    def login(role: str = "sales") -> StaffClient:
        email = make_staff(session_factory, role=role)
        app_client.cookies.clear()
        csrf = sign_in(app_client, email)
        return StaffClient(client=app_client, email=email, csrf=csrf)

    return login


@pytest.fixture()
def threaded_server(db_kind: str, tmp_path: Path) -> Iterator[ThreadedServer]:
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
        yield ThreadedServer(
            f"http://127.0.0.1:{port}", {"Authorization": f"Basic {basic}"}, engine
        )
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
