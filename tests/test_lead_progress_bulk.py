"""`progress.refresh_all` on PostgreSQL works every lead's progress out in one UPDATE from the
histories grouped by lead; it must store exactly what the per-lead path (`progress.refresh`,
the rules in Python) stores. Hundreds of random histories written around the ORM: ties, steps
skipped, shows only on the floor or only by appointment, no-shows, contact attempts before,
at and after the one that reached, stages the funnel does not rank, leads with no history."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from cdp.leads.progress import PROGRESS_COLUMNS, refresh, refresh_all
from cdp.models import (
    LEAD_STAGES,
    Appointment,
    ContactAttempt,
    Lead,
    LeadStageChange,
    Profile,
    ShowroomVisit,
)
from tests.helpers import make_dealer

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
STAGES = LEAD_STAGES  # every stage, those the funnel does not rank too
OUTCOMES = ("no_answer", "voicemail", "reached", "replied", "wrong_number")
LEADS = 400


def _moment(rng: random.Random) -> datetime:
    """Often on the same few minutes (ties between rows), sometimes with microseconds."""
    if rng.random() < 0.3:
        return T0 + timedelta(minutes=rng.choice((0, 5, 60)))
    return T0 + timedelta(
        seconds=rng.randrange(-3600, 40 * 86400), microseconds=rng.randrange(10**6)
    )


def _write_histories(connection: Connection, dealer_id: int, rng: random.Random) -> list[int]:
    profile_id = uuid.uuid4()
    connection.execute(
        insert(Profile).values(id=profile_id, created_at=T0, first_seen_at=T0, last_seen_at=T0)
    )
    ids = []
    for _ in range(LEADS):
        created = T0 + timedelta(seconds=rng.randrange(0, 86400), microseconds=rng.randrange(10**6))
        lead_id = connection.execute(
            insert(Lead)
            .values(
                profile_id=profile_id,
                dealer_id=dealer_id,
                channel="website",
                stage=rng.choice(STAGES),
                created_at=created,
                updated_at=created,
            )
            .returning(Lead.id)
        ).scalar_one()
        ids.append(lead_id)
        for _ in range(rng.choice((0, 0, 1, 2, 3, 5, 8))):
            connection.execute(
                insert(LeadStageChange).values(
                    lead_id=lead_id, to_stage=rng.choice(STAGES), changed_at=_moment(rng)
                )
            )
        for _ in range(rng.choice((0, 0, 1, 2))):
            connection.execute(
                insert(Appointment).values(
                    profile_id=profile_id,
                    lead_id=lead_id,
                    dealer_id=dealer_id,
                    kind=rng.choice(("visit", "test_drive", "delivery")),
                    status=rng.choice(("showed", "no_show", "planned")),
                    starts_at=_moment(rng),
                    created_at=T0,
                )
            )
        if rng.random() < 0.15:
            connection.execute(
                insert(ShowroomVisit).values(
                    dealer_id=dealer_id,
                    profile_id=profile_id,
                    lead_id=lead_id,
                    kind="walk_in",
                    arrived_at=_moment(rng),
                )
            )
        for _ in range(rng.choice((0, 1, 1, 2, 3, 4, 6))):
            connection.execute(
                insert(ContactAttempt).values(
                    profile_id=profile_id,
                    lead_id=lead_id,
                    dealer_id=dealer_id,
                    method="call",
                    outcome=rng.choice(OUTCOMES),
                    attempted_at=_moment(rng),
                )
            )
    # A floor visit of no lead counts for none.
    connection.execute(
        insert(ShowroomVisit).values(
            dealer_id=dealer_id, profile_id=profile_id, kind="walk_in", arrived_at=T0
        )
    )
    return ids


def _stored(connection: Connection) -> dict[int, tuple[Any, ...]]:
    columns = [Lead.__table__.c[name] for name in PROGRESS_COLUMNS]
    return {row[0]: tuple(row[1:]) for row in connection.execute(select(Lead.id, *columns))}


def _forget(connection: Connection) -> None:
    """Progress unlike any the rules give, so a lead the UPDATE missed shows."""
    values: dict[str, Any] = dict.fromkeys(PROGRESS_COLUMNS)
    connection.execute(update(Lead).values({**values, "furthest_step": 9, "first_contact_s": -1.0}))


def test_refresh_all_stores_what_the_per_lead_path_does(
    db: Session, db_kind: str, session_factory: sessionmaker[Session]
) -> None:
    if db_kind != "postgresql":
        pytest.skip("the one-UPDATE path is PostgreSQL's; SQLite's refresh_all is per lead")
    dealer_id = make_dealer(session_factory, "PB01")
    connection = db.connection()
    ids = _write_histories(connection, dealer_id, random.Random(11))

    _forget(connection)
    refresh(connection, ids)
    per_lead = _stored(connection)
    _forget(connection)
    assert refresh_all(connection) == len(ids)
    assert _stored(connection) == per_lead

    # The histories were varied enough to say something: every step, and every figure set.
    progress = [dict(zip(PROGRESS_COLUMNS, values, strict=True)) for values in per_lead.values()]
    assert {p["furthest_step"] for p in progress} == set(range(7))
    for name in PROGRESS_COLUMNS[1:]:
        assert any(p[name] is not None for p in progress), name
        assert any(p[name] is None for p in progress), name
    assert max(p["attempts_to_reach"] or 0 for p in progress) >= 3
    assert any(
        p["step_show_at"] is not None and p["step_show_at"] == p["step_reached_at"]
        for p in progress
    )
