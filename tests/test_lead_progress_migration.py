"""Migration 0033: the leads already stored get their progress worked out from their history
(stage changes, a showed appointment, a floor visit, contact attempts). A database at 0032 with
hand-written rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Float, Integer, Uuid, bindparam, column, select, table, text

from cdp.migrate import upgrade
from cdp.models.base import UtcDateTime
from tests.helpers import database_at

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture()
def at_0032(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    with database_at(db_kind, tmp_path, "progress_migration", "0032") as engine:
        yield engine


def _insert(db: Any, sql: str, **values: Any) -> None:
    params = [
        bindparam(name, type_=Uuid() if isinstance(value, uuid.UUID) else UtcDateTime())
        for name, value in values.items()
        if isinstance(value, (uuid.UUID, datetime))
    ]
    db.execute(text(sql).bindparams(*params), values)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def test_leads_stored_before_get_their_progress(at_0032: Engine) -> None:
    pid = uuid.uuid4()
    with at_0032.begin() as db:
        _insert(
            db,
            "INSERT INTO profile (id, created_at, first_seen_at, last_seen_at)"
            " VALUES (:p, :t, :t, :t)",
            p=pid,
            t=T0,
        )
        for lead_id, stage in ((1, "sold"), (2, "attempted"), (3, "new")):
            _insert(
                db,
                "INSERT INTO lead (id, profile_id, channel, stage, created_at, updated_at)"
                " VALUES (:id, :p, 'website', :stage, :t, :t)",
                id=lead_id,
                p=pid,
                stage=stage,
                t=T0,
            )
        # Lead 1: tried twice, reached on the third call, an appointment that showed (no stage
        # change for the show), then straight to sold two days later.
        for n, outcome in ((4, "no_answer"), (30, "voicemail"), (90, "reached"), (95, "no_answer")):
            _insert(
                db,
                "INSERT INTO contact_attempt (lead_id, profile_id, method, outcome, attempted_at)"
                " VALUES (1, :p, 'call', :o, :t)",
                p=pid,
                o=outcome,
                t=minutes(n),
            )
        for n, to_stage in ((0, "new"), (90, "reached"), (2880, "sold"), (4000, "delivered")):
            _insert(
                db,
                "INSERT INTO lead_stage_change (lead_id, to_stage, changed_at) VALUES (1, :s, :t)",
                s=to_stage,
                t=minutes(n),
            )
        _insert(
            db,
            "INSERT INTO appointment (profile_id, lead_id, kind, status, starts_at, created_at)"
            " VALUES (:p, 1, 'visit', 'showed', :t, :t)",
            p=pid,
            t=minutes(1440),
        )
        # Lead 2: one attempt, never reached; a walk-in visit on the floor counts as a show.
        _insert(
            db,
            "INSERT INTO contact_attempt (lead_id, profile_id, method, outcome, attempted_at)"
            " VALUES (2, :p, 'email', 'no_answer', :t)",
            p=pid,
            t=minutes(2),
        )
        _insert(
            db,
            "INSERT INTO showroom_visit (dealer_id, profile_id, lead_id, kind, arrived_at)"
            " VALUES ((SELECT min(id) FROM dealer), :p, 2, 'walk_in', :t)",  # the migrated dealer
            p=pid,
            t=minutes(600),
        )
    upgrade(at_0032)
    times = ("step_reached_at", "step_appointment_at", "step_show_at", "step_test_drive_at",
             "step_quote_at", "step_sold_at", "last_step_at")  # fmt: skip
    lead = table(
        "lead",
        column("id", Integer()),
        column("furthest_step", Integer()),
        *(column(name, UtcDateTime()) for name in times),
        column("first_contact_s", Float()),
        column("attempts_to_reach", Integer()),
        column("sold_after_s", Float()),
    )
    with at_0032.connect() as db:
        rows = {row.id: row for row in db.execute(select(lead))}
    one, two, three = rows[1], rows[2], rows[3]
    # Reached by the call at 90 min; the appointment (24 h) showed; sold at two days.
    assert one.furthest_step == 6
    assert one.step_reached_at == minutes(90)
    assert one.step_appointment_at == minutes(1440)  # the show implies the appointment
    assert one.step_show_at == minutes(1440)
    assert one.step_test_drive_at == one.step_quote_at == one.step_sold_at == minutes(2880)
    assert one.last_step_at == minutes(2880)
    assert one.first_contact_s == 4 * 60
    assert one.attempts_to_reach == 3
    assert one.sold_after_s == 2880 * 60
    # Never reached by a call, but on the floor at 10 h: a show, and with it reached.
    assert two.furthest_step == 3
    assert two.step_reached_at == two.step_show_at == minutes(600)
    assert two.step_test_drive_at is None
    assert two.first_contact_s == 120
    assert two.attempts_to_reach is None
    assert two.sold_after_s is None
    assert three.furthest_step == 0
    assert three.first_contact_s is None and three.last_step_at is None
