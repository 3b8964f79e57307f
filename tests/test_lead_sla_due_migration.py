"""Migration 0037 gives every lead stored before it its speed-to-lead due time: a lead on a
Saturday evening at a dealer closed until Monday is due on Monday at 9:30, one without a dealer
30 minutes after it came in. On both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.types import Uuid

from cdp.migrate import upgrade
from cdp.models.base import UtcDateTime
from tests.helpers import database_at

SATURDAY_EVENING = datetime(2026, 3, 7, 19, 0, tzinfo=UTC)  # 20:00 in Amsterdam
MONDAY_930 = datetime(2026, 3, 9, 8, 30, tzinfo=UTC)


@pytest.fixture()
def at_0036(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    with database_at(db_kind, tmp_path, "sla_due_migration", "0036") as engine:
        yield engine


def test_leads_stored_before_get_their_due_time(at_0036: Engine) -> None:
    pid = uuid.uuid4()
    stamp = bindparam("t", type_=UtcDateTime())
    with at_0036.begin() as db:
        db.execute(
            text(
                "INSERT INTO profile (id, created_at, first_seen_at, last_seen_at)"
                " VALUES (:p, :t, :t, :t)"
            ).bindparams(bindparam("p", type_=Uuid()), stamp),
            {"p": pid, "t": SATURDAY_EVENING},
        )
        db.execute(
            text(
                "INSERT INTO dealer (id, code, name, active, country, time_zone, opening_hours,"
                " postal_areas, sla_first_contact_minutes, sla_warning_minutes, created_at)"
                " VALUES (7, 'NH', 'NH', true, 'NL', 'Europe/Amsterdam', 'Mon-Fri 9-18', '[]',"
                " 30, 15, :t)"
            ).bindparams(stamp),
            {"t": SATURDAY_EVENING},
        )
        for lead_id, dealer in ((1, 7), (2, None)):
            db.execute(
                text(
                    "INSERT INTO lead (id, dealer_id, profile_id, channel, stage, created_at,"
                    " updated_at) VALUES (:id, :d, :p, 'website', 'new', :t, :t)"
                ).bindparams(bindparam("p", type_=Uuid()), stamp),
                {"id": lead_id, "d": dealer, "p": pid, "t": SATURDAY_EVENING},
            )
    upgrade(at_0036)
    with at_0036.connect() as db:
        due = dict(db.execute(text("SELECT id, sla_due_s FROM lead")).all())
    assert due == {
        1: (MONDAY_930 - SATURDAY_EVENING).total_seconds(),
        2: timedelta(minutes=30).total_seconds(),
    }
