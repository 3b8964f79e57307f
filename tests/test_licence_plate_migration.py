"""Migration 0024: profile_search.plate is filled from the plate traits already stored (the
latest valid one, canonical), and junk is left out. A database at 0014 with hand-written rows,
on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import JSON, Engine, String, Uuid, bindparam, column, select, table, text
from sqlalchemy.dialects.postgresql import JSONB

from cdp.migrate import upgrade
from cdp.models.base import UtcDateTime
from tests.helpers import database_at

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture()
def at_0014(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    with database_at(db_kind, tmp_path, "plate_migration", "0014") as engine:
        yield engine


def test_plates_are_backfilled_from_traits(at_0014: Engine) -> None:
    newer, older, junk = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    traits = [  # (profile, trait, value, how long after T0)
        (newer, "plate", "ab12cd", 0),
        (newer, "licence_plate", "12 abc 3", 5),  # the later one counts
        (older, "license_plate", "1abc123", 0),
        (junk, "plate", "not a plate", 0),
    ]
    json_type = JSON().with_variant(JSONB(), "postgresql")
    with at_0014.begin() as db:
        for pid in (newer, older, junk):
            db.execute(
                text(
                    "INSERT INTO profile (id, created_at, first_seen_at, last_seen_at) "
                    "VALUES (:p, :t, :t, :t)"
                ).bindparams(bindparam("p", type_=Uuid()), bindparam("t", type_=UtcDateTime())),
                {"p": pid, "t": T0},
            )
            db.execute(
                text("INSERT INTO profile_search (profile_id, name) VALUES (:p, 'Someone')")
                .bindparams(bindparam("p", type_=Uuid())),
                {"p": pid},
            )  # fmt: skip
        for pid, name, value, minutes in traits:
            db.execute(
                text(
                    "INSERT INTO profile_trait (profile_id, name, value, value_at, first_value,"
                    " first_at) VALUES (:p, :n, :v, :t, :v, :t)"
                ).bindparams(
                    bindparam("p", type_=Uuid()),
                    bindparam("v", type_=json_type),
                    bindparam("t", type_=UtcDateTime()),
                ),
                {"p": pid, "n": name, "v": value, "t": T0 + timedelta(minutes=minutes)},
            )
    upgrade(at_0014)
    search = table("profile_search", column("profile_id", Uuid()), column("plate", String()))
    with at_0014.connect() as db:
        plates = dict(db.execute(select(search.c.profile_id, search.c.plate)).all())
    assert plates == {newer: "12-ABC-3", older: "1-ABC-123", junk: None}
