"""Database fixtures: every test runs on SQLite and on PostgreSQL (when reachable; always in CI).

The schema is made by the Alembic migrations, once per database per test run. Each test then
runs inside a transaction that is rolled back (SQLAlchemy's "join an external transaction"
recipe), so commits inside the app only release a savepoint.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from cdp.app import create_app
from cdp.auth.service import create_source, create_token
from cdp.config import Settings
from cdp.db import make_engine
from cdp.migrate import upgrade

PG_ADMIN_URL = os.environ.get(
    "CDP_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Process id too: two test runs at once (a developer's and a helper's) must not share databases.
WORKER = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def _pg_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


PG_AVAILABLE = _pg_available()
if os.environ.get("CI") and not PG_AVAILABLE:
    raise RuntimeError(f"CI needs PostgreSQL at {PG_ADMIN_URL}")


def fresh_database_url(kind: str, tmp_dir: Path, name: str) -> str:
    """A new, empty database of the given kind (not migrated)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_dir / (name + '.sqlite3')}"
    db_name = f"cdp_test_{name}_{WORKER}".lower()
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}"


DB_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(scope="session", params=DB_KINDS)
def db_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    if kind == "postgresql" and not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable")
    return kind


def drop_database(url: str) -> None:
    """Remove a PostgreSQL test database made by fresh_database_url (SQLite files go with tmp)."""
    if not url.startswith("postgresql"):
        return
    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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
    return Settings(database_url=migrated_url)


@pytest.fixture()
def app_client(
    engine: Engine, session_factory: sessionmaker[Session], settings: Settings
) -> Iterator[TestClient]:
    app = create_app(settings, engine=engine, session_factory=session_factory)
    with TestClient(app) as client:
        yield client


@dataclass
class SourceKey:
    id: int
    name: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{self.key}:".encode()).decode()}


def make_source(
    factory: sessionmaker[Session], *, kind: str = "web", origins: list[str] | None = None
) -> SourceKey:
    with factory() as session:
        source, key = create_source(
            session, name=f"{kind}-{uuid.uuid4().hex[:8]}", kind=kind, origins=origins or []
        )
        session.commit()
        return SourceKey(id=source.id, name=source.name, key=key)


def make_token(factory: sessionmaker[Session], *, role: str = "sales") -> dict[str, str]:
    with factory() as session:
        _token, secret = create_token(session, name=f"token-{uuid.uuid4().hex[:6]}", role=role)
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture()
def web_source(session_factory: sessionmaker[Session]) -> SourceKey:
    return make_source(session_factory, kind="web", origins=["https://configurator.example.com"])


@pytest.fixture()
def showroom_source(session_factory: sessionmaker[Session]) -> SourceKey:
    return make_source(session_factory, kind="showroom")


@pytest.fixture()
def api_auth(session_factory: sessionmaker[Session]) -> dict[str, str]:
    return make_token(session_factory)


STAFF_PASSWORD = "correct-horse-battery"


def make_staff(
    factory: sessionmaker[Session], *, role: str = "sales", name: str | None = None
) -> str:
    """A staff user with STAFF_PASSWORD; returns their e-mail address."""
    from cdp.auth.staff import create_user

    email = f"{role}.{uuid.uuid4().hex[:8]}@dealer.example"
    with factory() as session:
        create_user(session, email=email, role=role, name=name, password=STAFF_PASSWORD)
        session.commit()
    return email


def sign_in(client: TestClient, email: str, password: str = STAFF_PASSWORD) -> str:
    """Sign the client in through the real form; returns the session's CSRF token."""
    from bs4 import BeautifulSoup

    form = BeautifulSoup(client.get("/login").text, "html.parser")
    token_input = form.find("input", attrs={"name": "csrf_token"})
    assert token_input is not None
    response = client.post(
        "/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": token_input["value"],
            "next": "/showroom",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    account = BeautifulSoup(client.get("/account").text, "html.parser")
    csrf_input = account.find("input", attrs={"name": "csrf_token"})
    assert csrf_input is not None
    return str(csrf_input["value"])


@dataclass
class StaffClient:
    client: TestClient
    email: str
    csrf: str

    def post(self, url: str, data: dict[str, str] | None = None, **kwargs: object) -> object:
        return self.client.post(
            url, data={"csrf_token": self.csrf, **(data or {})}, follow_redirects=False, **kwargs
        )  # type: ignore[arg-type]


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
