"""Sign-in limits: exact under concurrent attempts, counted per account and network address so
nobody can lock a staff member out from elsewhere, with an overall ceiling per account that the
staff member's own recent address passes. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.migrate import upgrade
from cdp.models import LoginAttempt
from tests.helpers import STAFF_PASSWORD, drop_database, fresh_database_url, make_staff

HOME = "198.51.100.7"  # where the staff member signs in
ATTACKER = "203.0.113.66"
WRONG = "wrong-password!"
TOO_MANY = "too many failed sign-ins"


def at(app: FastAPI, address: str) -> TestClient:
    """A browser at this network address."""
    return TestClient(app, client=(address, 50000))


def try_sign_in(client: TestClient, email: str, password: str) -> httpx.Response:
    form = BeautifulSoup(client.get("/login").text, "html.parser")
    token = form.find("input", attrs={"name": "csrf_token"})
    assert token is not None
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": str(token["value"])},
        follow_redirects=False,
    )


def failures(factory: sessionmaker[Session], email: str) -> int:
    with factory() as session:
        counted = session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.email == email, LoginAttempt.succeeded.is_(False))
        )
    return counted or 0


@pytest.fixture()
def app(engine: Engine, session_factory: sessionmaker[Session], settings: Settings) -> FastAPI:
    return create_app(settings, engine=engine, session_factory=session_factory)


def test_failures_from_one_address_do_not_lock_the_staff_member_out_elsewhere(
    app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    email = make_staff(session_factory)
    attacker = at(app, ATTACKER)
    for _ in range(5):
        refused = try_sign_in(attacker, email, WRONG)
        assert refused.status_code == 401 and "is wrong" in refused.text
    blocked = try_sign_in(attacker, email, STAFF_PASSWORD)
    assert blocked.status_code == 401 and TOO_MANY in blocked.text
    assert try_sign_in(at(app, HOME), email, STAFF_PASSWORD).status_code == 303


def test_many_addresses_reach_a_ceiling_that_the_staff_members_own_address_passes(
    app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    email = make_staff(session_factory)
    home = at(app, HOME)
    assert try_sign_in(home, email, STAFF_PASSWORD).status_code == 303
    home.cookies.clear()
    for n in range(4):  # 4 addresses x 5 failures: the ceiling of 20 for the account
        attacker = at(app, f"203.0.113.{n + 1}")
        for _ in range(5):
            refused = try_sign_in(attacker, email, WRONG)
            assert refused.status_code == 401 and "is wrong" in refused.text
    elsewhere = try_sign_in(at(app, "192.0.2.200"), email, STAFF_PASSWORD)
    assert elsewhere.status_code == 401 and TOO_MANY in elsewhere.text
    assert try_sign_in(home, email, STAFF_PASSWORD).status_code == 303
    assert failures(session_factory, email) == 20


@pytest.fixture()
def committed(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database of its own whose requests really commit, as concurrent requests need."""
    url = fresh_database_url(
        db_kind, tmp_path_factory.mktemp("db"), f"signin_{uuid.uuid4().hex[:6]}"
    )
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    drop_database(url)


def test_concurrent_wrong_passwords_get_exactly_five_checks(committed: Engine) -> None:
    """Twenty wrong passwords at once from one address: five are checked, the rest refused
    unchecked, and afterwards the right one is refused too."""
    factory = make_sessionmaker(committed)
    email = make_staff(factory)
    app = create_app(Settings(database_url=str(committed.url)), engine=committed)
    attempts = 20
    start = threading.Barrier(attempts)
    answers: list[str] = []

    def attempt() -> None:
        client = at(app, ATTACKER)
        form = BeautifulSoup(client.get("/login").text, "html.parser")
        token = form.find("input", attrs={"name": "csrf_token"})
        assert token is not None
        start.wait()
        response = client.post(
            "/login",
            data={"email": email, "password": WRONG, "csrf_token": str(token["value"])},
            follow_redirects=False,
        )
        answers.append(
            f"{response.status_code} {'too many' if TOO_MANY in response.text else 'wrong'}"
        )

    threads = [threading.Thread(target=attempt) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == ["401 too many"] * 15 + ["401 wrong"] * 5
    assert failures(factory, email) == 5
    late = try_sign_in(at(app, ATTACKER), email, STAFF_PASSWORD)
    assert late.status_code == 401 and TOO_MANY in late.text
