"""Every query the ingest path makes (identity has its own)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import psycopg
from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cdp.db import insert_rows
from cdp.models import Configuration, Consent, Event, QuarantinedMessage, SegmentEventChange
from cdp.sql import any_of, dialect_of


def known_message_ids(session: Session, source_id: int, message_ids: Sequence[str]) -> set[str]:
    if not message_ids:
        return set()
    rows = session.connection().execute(
        _known_statement(dialect_of(session)),
        {"source_id": source_id, "ids": list(message_ids)},
    )
    return {message_id for (message_id,) in rows}


@functools.cache
def _known_statement(dialect: str) -> Any:
    return select(Event.message_id).where(
        Event.source_id == bindparam("source_id"), any_of(Event.message_id, "ids", dialect)
    )


# The columns an event row carries (everything but the id), in COPY order, and their types.
EVENT_COLUMNS = (
    "source_id",
    "message_id",
    "type",
    "name",
    "channel",
    "profile_id",
    "anonymous_id",
    "user_id",
    "occurred_at",
    "received_at",
    "properties",
    "traits",
    "context",
)
_EVENT_COPY_TYPES = (
    "int8",  # id
    "int4",
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "uuid",
    "varchar",
    "varchar",
    "timestamptz",
    "timestamptz",
    "jsonb",  # properties
    "json",  # traits
    "json",  # context
)
_DRAW_EVENT_IDS = "SELECT nextval('event_id_seq') FROM generate_series(1, %s)"
# Binary: psycopg's C dumpers write ids, times and JSON with less work on both sides than text.
_COPY_EVENTS = f"COPY event (id, {', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"


def insert_events(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Store new events (one per messageId, already de-duplicated); their ids by messageId.

    PostgreSQL: the ids are drawn from the event sequence in one query, then the rows go in with
    one COPY. COPY has no ON CONFLICT: a message stored before (unless the caller left it out,
    `known_message_ids` in the same transaction), or by a concurrent transaction first, makes
    the COPY fail with a unique violation (SQLSTATE 23505). The whole transaction is then
    retried, as the /v1 routes do, and the retry finds the message stored. The unique
    constraint is what guarantees a message is never stored twice.

    SQLite: INSERT .. ON CONFLICT DO NOTHING (one writer at a time, so nothing races).
    """
    if not rows:
        return {}
    if dialect_of(session) == "postgresql":
        stored = _copy_events(session, rows)
    else:
        stmt = (
            sqlite.insert(Event)
            .on_conflict_do_nothing(index_elements=[Event.source_id, Event.message_id])
            .returning(Event.message_id, Event.id)
        )
        stored = {message_id: event_id for message_id, event_id in session.execute(stmt, rows)}
    _note_for_segmentation(session, {row["profile_id"] for row in rows})
    return stored


def _note_for_segmentation(session: Session, profile_ids: set[uuid.UUID]) -> None:
    """The next segmentation run recomputes these profiles' event aggregates. Here and not in
    a trigger on `event` (updates and deletes have theirs): a trigger would capture every
    inserted row to find a few hundred profiles."""
    insert_rows(
        session,
        cast(Table, SegmentEventChange.__table__),
        [{"profile_id": pid} for pid in sorted(profile_ids)],
    )


def _copy_events(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    raw = session.connection().connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    statement = _DRAW_EVENT_IDS
    try:
        with raw.cursor() as cursor:
            cursor.execute(statement, (len(rows),))
            ids = [event_id for (event_id,) in cursor.fetchall()]
            statement = _COPY_EVENTS
            with cursor.copy(statement) as copy:
                copy.set_types(_EVENT_COPY_TYPES)
                for event_id, row in zip(ids, rows, strict=True):
                    copy.write_row(
                        (
                            event_id,
                            row["source_id"],
                            row["message_id"],
                            row["type"],
                            row["name"],
                            row["channel"],
                            row["profile_id"],
                            row["anonymous_id"],
                            row["user_id"],
                            row["occurred_at"],
                            row["received_at"],
                            row["properties"],
                            row["traits"],
                            row["context"],
                        )
                    )
    except psycopg.Error as error:
        # Raised as SQLAlchemy raises driver errors, so callers see one kind (the routes retry a
        # unique violation, for one).
        raise DBAPIError.instance(statement, None, error, psycopg.Error) from error
    return {row["message_id"]: event_id for event_id, row in zip(ids, rows, strict=True)}


def insert_configurations(session: Session, rows: list[dict[str, Any]]) -> None:
    """Rows with every column but the id. Core, not the ORM's bulk INSERT, which would split
    the rows into one statement per pattern of None values."""
    insert_rows(session, cast(Table, Configuration.__table__), rows)


@dataclass(slots=True)
class ConsentStatement:
    """A consent statement of a profile's history: stored (with its id) or about to be."""

    id: int | None
    status: str
    wording: str | None
    stated_at: datetime
    row: dict[str, Any] | None = None  # every column, for one not stored yet
    # Recorded by staff (cdp.consent.service): kept whatever arrives, with its reason.
    by_staff: bool = False


@functools.cache
def _consent_history_statement(dialect: str) -> Any:
    return (
        select(
            Consent.id,
            Consent.profile_id,
            Consent.purpose,
            Consent.status,
            Consent.wording,
            Consent.stated_at,
            Consent.address,
            Consent.recorded_by_user_id,
        )
        .where(any_of(Consent.profile_id, "ids", dialect))
        .order_by(Consent.stated_at, Consent.id)
    )


def consent_history(
    session: Session, profile_ids: set[uuid.UUID]
) -> dict[tuple[uuid.UUID, str, str | None], list[ConsentStatement]]:
    """Every stored statement per (profile, purpose, address), oldest first."""
    history: dict[tuple[uuid.UUID, str, str | None], list[ConsentStatement]] = {}
    if not profile_ids:
        return history
    rows = session.connection().execute(
        _consent_history_statement(dialect_of(session)), {"ids": list(profile_ids)}
    )
    for consent_id, pid, purpose, status, wording, stated_at, address, staff_id in rows:
        history.setdefault((pid, purpose, address), []).append(
            ConsentStatement(consent_id, status, wording, stated_at, by_staff=staff_id is not None)
        )
    return history


def write_consents(session: Session, new: list[dict[str, Any]], removed: list[int]) -> None:
    """Store new statements (rows with every column but the id); delete stored ones by id."""
    if removed:
        session.connection().execute(
            _delete_consents_statement(dialect_of(session)), {"ids": removed}
        )
    insert_rows(session, cast(Table, Consent.__table__), new)


@functools.cache
def _delete_consents_statement(dialect: str) -> Any:
    return delete(Consent).where(any_of(Consent.id, "ids", dialect))


def quarantine(session: Session, rows: list[dict[str, Any]]) -> None:
    """Keep refused messages. A row whose messageId a concurrent transaction kept first fails
    the unique index (SQLSTATE 23505), and the retry of the whole transaction skips it."""
    insert_rows(session, cast(Table, QuarantinedMessage.__table__), rows)


def quarantined_message_ids(
    session: Session, source_id: int, message_ids: Sequence[str]
) -> set[str]:
    """Which of these messageIds of the source's refused messages are kept already."""
    rows = session.connection().execute(
        _quarantined_statement(dialect_of(session)),
        {"source_id": source_id, "ids": list(message_ids)},
    )
    return {message_id for (message_id,) in rows}


@functools.cache
def _quarantined_statement(dialect: str) -> Any:
    return select(QuarantinedMessage.message_id).where(
        QuarantinedMessage.source_id == bindparam("source_id"),
        any_of(QuarantinedMessage.message_id, "ids", dialect),
    )
