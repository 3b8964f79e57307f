"""Migration 0010 binds existing consent statements to the address they were made for, where
that is unambiguous (the statement's own message, else the profile's one address then), and
leaves the rest unbound. A database at 0009 with hand-written rows, upgraded to head; on SQLite
and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, Uuid, bindparam, text

from cdp.migrate import upgrade
from cdp.models.base import UtcDateTime
from tests.helpers import database_at

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


@pytest.fixture()
def at_0009(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    with database_at(db_kind, tmp_path, "consent_address", "0009") as engine:
        yield engine


def run(db: Connection, sql: str, **params: object) -> None:
    """Raw SQL of the 0009 schema (the models are head's); `p`/`id` are uuids, `t` a time."""
    statement = text(sql)
    for name in ("p", "id"):
        if name in params:
            statement = statement.bindparams(bindparam(name, type_=Uuid()))
    if "t" in params:
        statement = statement.bindparams(bindparam("t", type_=UtcDateTime()))
    db.execute(statement, params)


def test_existing_statements_are_bound_only_where_unambiguous(at_0009: Engine) -> None:
    one, two, later = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with at_0009.begin() as db:
        run(
            db,
            "INSERT INTO source (id, name, kind, write_key_hash, origins, active, created_at)"
            " VALUES (1, 'web', 'web', 'x', '[]', true, :t)",
            t=T0,
        )
        for pid in (one, two, later):
            run(
                db,
                "INSERT INTO profile (id, created_at, first_seen_at, last_seen_at)"
                " VALUES (:id, :t, :t, :t)",
                id=pid,
                t=T0,
            )
        identities = [
            (one, "email", "anna@example.nl", T0),
            (two, "email", "anna2@example.nl", T0),
            (two, "email", "bram@example.nl", T0 + timedelta(hours=1)),
            (later, "email", "late@example.nl", T0 + timedelta(days=1)),
        ]
        for pid, kind, value, seen in identities:
            run(
                db,
                "INSERT INTO identity (kind, value, profile_id, source_id, first_seen_at)"
                " VALUES (:k, :v, :p, 1, :t)",
                k=kind,
                v=value,
                p=pid,
                t=seen,
            )
        # Bram's identify on the shared computer carried his address and a grant.
        run(
            db,
            "INSERT INTO event (source_id, message_id, type, channel, profile_id,"
            " occurred_at, received_at, properties, traits, context)"
            " VALUES (1, 'm-bram', 'identify', 'web', :p, :t, :t, '{}', :traits, '{}')",
            p=two,
            t=T0,
            traits='{"email": " Bram@Example.nl"}',
        )
        statements = [
            # (profile, status, message, recorded): expected address
            (one, "granted", "m-none", T0 + timedelta(minutes=5)),  # one address then: bound
            (one, "withdrawn", "m-none2", T0 + timedelta(minutes=6)),  # withdrawals stay unbound
            (two, "granted", "m-bram", T0 + timedelta(hours=2)),  # its message named Bram
            (two, "granted", "m-none3", T0 + timedelta(hours=2)),  # two addresses: unbound
            (later, "granted", "m-none4", T0),  # the address came later: unbound
        ]
        for pid, status, message_id, recorded in statements:
            run(
                db,
                "INSERT INTO consent (profile_id, purpose, status, stated_at, source_id,"
                " message_id, recorded_at) VALUES (:p, 'email', :s, :t, 1, :m, :t)",
                p=pid,
                s=status,
                m=message_id,
                t=recorded,
            )

    upgrade(at_0009)

    with at_0009.connect() as db:
        bound = dict(db.execute(text("SELECT message_id, address FROM consent")).all())
    assert bound == {
        "m-none": "anna@example.nl",
        "m-none2": None,
        "m-bram": "bram@example.nl",
        "m-none3": None,
        "m-none4": None,
    }
