"""Retention through the command line, on both databases: `cdp retention run` deletes anonymous
visitors' events, idle leads, refused messages, audit records and alerts past their periods, and
nothing else; `--dry-run` counts per kind and deletes nothing; long runs report progress; a
period of 0 keeps a kind; a bad period is one line and exit 1."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.migrate import upgrade
from cdp.models import Alert, AuditRecord, Event, Lead, QuarantinedMessage, StaffUser, utcnow
from tests.helpers import (
    SourceKey,
    add_lead,
    drop_database,
    fresh_database_url,
    make_customer,
    make_source,
    run_cdp,
)


class Shop:
    def __init__(self, url: str, engine: Engine, source: SourceKey, client: TestClient) -> None:
        self.url, self.engine, self.source, self.client = url, engine, source, client
        self.factory: sessionmaker[Session] = make_sessionmaker(engine)

    def visitor(self, events: int) -> str:
        """An anonymous visitor: events with an anonymousId only."""
        device = uuid.uuid4().hex
        for n in range(events):
            body = {"anonymousId": device, "event": "Configuration Started",
                    "properties": {"model": "Aurora", "n": n}}  # fmt: skip
            response = self.client.post("/v1/track", json=body, headers=self.source.auth)
            assert response.status_code == 200, response.text
        return device

    def refuse_one(self) -> None:
        body = {"anonymousId": uuid.uuid4().hex, "properties": {}}  # no event name
        self.client.post("/v1/track", json=body, headers=self.source.auth)

    def age_events(self, device: str, days: int) -> None:
        with self.factory.begin() as session:
            session.execute(
                update(Event)
                .where(Event.anonymous_id == device)
                .values(occurred_at=utcnow() - timedelta(days=days))
            )

    def count(self, model: type[object], *where: object) -> int:
        with self.factory() as session:
            statement = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
            return session.scalar(statement) or 0


@pytest.fixture()
def shop(db_kind: str, tmp_path: Path) -> Iterator[Shop]:
    url = fresh_database_url(db_kind, tmp_path, f"retention_{uuid.uuid4().hex[:6]}")
    engine = make_engine(url)
    try:
        upgrade(engine)
        source = make_source(make_sessionmaker(engine))
        with TestClient(create_app(Settings(database_url=url), engine=engine)) as client:
            yield Shop(url, engine, source, client)
    finally:
        engine.dispose()
        drop_database(url)


def fill(shop: Shop) -> tuple[str, str, uuid.UUID]:
    """Of each kind, something past its period and something within it."""
    old_visitor, new_visitor = shop.visitor(3), shop.visitor(2)
    shop.age_events(old_visitor, 400)
    person = make_customer(shop.client, shop.source, shop.factory, first_name="Oud")
    with shop.factory.begin() as session:  # a person's old events are not anonymous
        session.execute(
            update(Event)
            .where(Event.profile_id == person)
            .values(occurred_at=utcnow() - timedelta(days=400))
        )
    add_lead(shop.factory, person, "new", age=timedelta(days=800))
    add_lead(shop.factory, person, "contacted", age=timedelta(days=10))
    shop.refuse_one()
    shop.refuse_one()
    with shop.factory.begin() as session:
        oldest = session.scalar(select(func.min(QuarantinedMessage.id)))
        session.execute(
            update(QuarantinedMessage)
            .where(QuarantinedMessage.id == oldest)
            .values(received_at=utcnow() - timedelta(days=100))
        )
        session.add(AuditRecord(at=utcnow() - timedelta(days=1200), action="view",
                                actor="x@dealer.example", profile_id=person))  # fmt: skip
        session.add(AuditRecord(at=utcnow() - timedelta(days=1), action="view",
                                actor="x@dealer.example", profile_id=person))  # fmt: skip
        user = session.scalar(select(StaffUser.id).limit(1)) or _staff(session)
        for age in (100, 1):
            when = utcnow() - timedelta(days=age)
            session.add(Alert(user_id=user, kind="customer_back", text="was back",
                              profile_id=person, created_at=when))  # fmt: skip
    return old_visitor, new_visitor, person


def _staff(session: Session) -> int:
    user = StaffUser(email="retention@dealer.example", name="R", role="sales")
    session.add(user)
    session.flush()
    return user.id


def test_dry_run_counts_each_kind_and_deletes_nothing(shop: Shop, tmp_path: Path) -> None:
    fill(shop)
    events_before = shop.count(Event)
    result = run_cdp("retention", "run", "--dry-run", database_url=shop.url, cwd=tmp_path)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "anonymous events: 3 older than 395 days would be deleted",
        "idle leads: 1 older than 730 days would be deleted",
        "refused messages: 1 older than 90 days would be deleted",
        "audit records: 1 older than 1095 days would be deleted",
        "alerts: 1 older than 90 days would be deleted",
    ]
    assert shop.count(Event) == events_before
    assert shop.count(Lead) == 2 and shop.count(AuditRecord) == 2
    assert shop.count(QuarantinedMessage) == 2


def test_a_run_deletes_what_is_due_and_nothing_else(shop: Shop, tmp_path: Path) -> None:
    old_visitor, new_visitor, person = fill(shop)
    person_events = shop.count(Event, Event.profile_id == person)
    result = run_cdp("retention", "run", "--batch-size", "2", database_url=shop.url, cwd=tmp_path)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "anonymous events: 3 older than 395 days deleted",
        "idle leads: 1 older than 730 days deleted",
        "refused messages: 1 older than 90 days deleted",
        "audit records: 1 older than 1095 days deleted",
        "alerts: 1 older than 90 days deleted",
    ]
    # Three events in batches of two: the run says how far it is.
    assert "anonymous events: 2 of 3 deleted" in result.err
    assert "anonymous events: 3 of 3 deleted" in result.err
    assert shop.count(Event, Event.anonymous_id == old_visitor) == 0
    assert shop.count(Event, Event.anonymous_id == new_visitor) == 2
    assert shop.count(Event, Event.profile_id == person) == person_events > 0
    with shop.factory() as session:
        assert session.scalars(select(Lead.stage)).all() == ["contacted"]
    assert shop.count(QuarantinedMessage) == 1 and shop.count(AuditRecord) == 1
    assert shop.count(Alert) == 1

    again = run_cdp("retention", "run", database_url=shop.url, cwd=tmp_path)
    assert again.code == 0 and all(" 0 older" in line for line in again.out.splitlines())


def test_a_period_of_zero_keeps_a_kind_and_a_bad_one_is_refused(shop: Shop, tmp_path: Path) -> None:
    fill(shop)
    (tmp_path / ".env").write_text("CDP_RETENTION_AUDIT_DAYS=0\n")
    result = run_cdp("retention", "run", database_url=shop.url, cwd=tmp_path)
    assert result.code == 0, result.err
    assert "audit records: kept forever (retention period 0)" in result.out.splitlines()
    assert shop.count(AuditRecord) == 2
    (tmp_path / ".env").write_text("CDP_RETENTION_IDLE_LEAD_DAYS=-5\n")
    bad = run_cdp("retention", "run", "--dry-run", database_url=shop.url, cwd=tmp_path)
    assert bad.code == 1 and "Traceback" not in bad.err
    assert bad.err.startswith("error: CDP_RETENTION_IDLE_LEAD_DAYS")
    assert len(bad.err.strip().splitlines()) == 1
