"""Migration 0011: an existing installation upgrades to one default dealer (MAIN) holding its
floor staff and its leads with everything hanging off them; admins, marketing and existing API
tokens stay network-wide. A database at 0010 with hand-written rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, Uuid, bindparam, text

from cdp.migrate import upgrade
from cdp.models.base import UtcDateTime
from tests.helpers import database_at

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


@pytest.fixture()
def at_0010(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    with database_at(db_kind, tmp_path, "dealers_migration", "0010") as engine:
        yield engine


def test_existing_staff_and_leads_move_to_the_default_dealer(at_0010: Engine) -> None:
    person = uuid.uuid4()
    insert = [
        "INSERT INTO profile (id, created_at, first_seen_at, last_seen_at) VALUES (:p, :t, :t, :t)",
        *(
            f"INSERT INTO staff_user (id, email, name, role, active, created_at) "
            f"VALUES ({n}, '{role}@x.nl', '{role}', '{role}', true, :t)"
            for n, role in enumerate(("sales", "admin", "marketing", "manager", "delivery"), 1)
        ),
        "INSERT INTO api_token (id, name, role, token_hash, active, created_at)"
        " VALUES (1, 'app', 'sales', 'h', true, :t)",
        "INSERT INTO lead (id, profile_id, channel, stage, assigned_user_id, created_at,"
        " updated_at) VALUES (1, :p, 'website', 'new', 1, :t, :t)",
        "INSERT INTO contact_attempt (id, lead_id, profile_id, user_id, method, outcome,"
        " attempted_at) VALUES (1, 1, :p, 1, 'call', 'reached', :t)",
        "INSERT INTO appointment (id, profile_id, lead_id, kind, status, starts_at, created_at)"
        " VALUES (1, :p, 1, 'visit', 'planned', :t, :t)",
        "INSERT INTO tablet_session (id, user_id, profile_id, anonymous_id, selection,"
        " started_at) VALUES (1, 1, :p, 'anon-1', '{}', :t)",
        "INSERT INTO note (id, profile_id, user_id, tablet_session_id, created_at)"
        " VALUES (1, :p, 1, 1, :t)",
        "INSERT INTO delivery (id, profile_id, lead_id, status, created_at)"
        " VALUES (1, :p, 1, 'scheduled', :t)",
    ]
    with at_0010.begin() as db:
        for sql in insert:
            statement = text(sql).bindparams(bindparam("t", type_=UtcDateTime()))
            params: dict[str, object] = {"t": T0}
            if ":p" in sql:
                statement = statement.bindparams(bindparam("p", type_=Uuid()))
                params["p"] = person
            db.execute(statement, params)
    upgrade(at_0010)
    with at_0010.connect() as db:
        dealers = db.execute(text("SELECT id, code, name, active FROM dealer")).all()
        assert [(code, name, bool(active)) for _, code, name, active in dealers] == [
            ("MAIN", "Main showroom", True)
        ]
        main = dealers[0][0]
        staff = db.execute(
            text(
                "SELECT u.role FROM staff_dealer s JOIN staff_user u ON u.id = s.user_id"
                " WHERE s.dealer_id = :d ORDER BY u.role"
            ),
            {"d": main},
        ).scalars()
        assert list(staff) == ["delivery", "manager", "sales"]
        for table in ("lead", "contact_attempt", "appointment", "tablet_session", "note"):
            assert db.execute(text(f"SELECT dealer_id FROM {table}")).scalar_one() == main
        assert db.execute(text("SELECT dealer_id FROM delivery")).scalar_one() == main
        assert db.execute(text("SELECT dealer_id FROM api_token")).scalar_one() is None
