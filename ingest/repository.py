"""Every query the ingest path makes (identity has its own)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cdp.identity.repository import dialect_of
from cdp.models import Configuration, Consent, Event, QuarantinedMessage


def known_message_ids(session: Session, source_id: int, message_ids: Sequence[str]) -> set[str]:
    if not message_ids:
        return set()
    return set(
        session.scalars(
            select(Event.message_id).where(
                Event.source_id == source_id, Event.message_id.in_(message_ids)
            )
        )
    )


def insert_events(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert events, skipping any (source, messageId) already stored; new ids by messageId."""
    if not rows:
        return {}
    dialect = dialect_of(session)
    stmt: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Event)
    stmt = stmt.on_conflict_do_nothing(
        index_elements=[Event.source_id, Event.message_id]
    ).returning(Event.message_id, Event.id)
    result = session.execute(stmt, rows)
    return {message_id: event_id for message_id, event_id in result}


def insert_configurations(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Configuration), rows)


def consent_history(
    session: Session, profile_ids: set[uuid.UUID]
) -> dict[tuple[uuid.UUID, str], list[Consent]]:
    """Every stored statement per (profile, purpose), oldest first."""
    history: dict[tuple[uuid.UUID, str], list[Consent]] = {}
    if not profile_ids:
        return history
    for row in session.scalars(
        select(Consent)
        .where(Consent.profile_id.in_(profile_ids))
        .order_by(Consent.stated_at, Consent.id)
    ):
        history.setdefault((row.profile_id, row.purpose), []).append(row)
    return history


def quarantine(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(QuarantinedMessage), rows)
