"""Every query the ingest path makes (identity has its own)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
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
    return dict(result.tuples().all())


def insert_configurations(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Configuration), rows)


def consents_in_force(
    session: Session, profile_ids: set[uuid.UUID]
) -> dict[tuple[uuid.UUID, str], tuple[str, datetime, str | None]]:
    """Latest statement per (profile, purpose): status, time, wording."""
    if not profile_ids:
        return {}
    latest = (
        select(
            Consent.profile_id,
            Consent.purpose,
            func.max(Consent.stated_at).label("stated_at"),
        )
        .where(Consent.profile_id.in_(profile_ids))
        .group_by(Consent.profile_id, Consent.purpose)
        .subquery()
    )
    rows = session.execute(
        select(
            Consent.profile_id, Consent.purpose, Consent.status, Consent.stated_at, Consent.wording
        )
        .join(
            latest,
            (latest.c.profile_id == Consent.profile_id)
            & (latest.c.purpose == Consent.purpose)
            & (latest.c.stated_at == Consent.stated_at),
        )
        .order_by(Consent.id)
    )
    return {(pid, purpose): (status, at, wording) for pid, purpose, status, at, wording in rows}


def insert_consents(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Consent), rows)


def quarantine(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(QuarantinedMessage), rows)
