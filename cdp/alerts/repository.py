"""Every query of alerts: storing them, the tray's reads, and what ingest asks per transaction."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from cdp.dealers.visibility import DealerScope
from cdp.models import OPEN_STAGES, Alert, Lead, ProfileSearch, StaffSession, StaffUser, utcnow
from cdp.sql import any_of, dialect_of

# The PostgreSQL channel every worker listens on; a notification's payload is the
# comma-separated ids of the staff members who have new alerts.
CHANNEL = "cdp_alert"


def insert_alerts(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Alert), list(rows))


def signal(session: Session, user_ids: Collection[int]) -> None:
    """Tell every worker's listener, once this transaction commits, whose alerts are new.
    NOTIFY is transactional: a rolled-back alert is never announced. SQLite has no such
    thing; its workers poll (cdp.alerts.delivery)."""
    if user_ids and dialect_of(session) == "postgresql":
        payload = ",".join(str(user_id) for user_id in sorted(set(user_ids)))
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
        )


def _in_scope(scope: DealerScope) -> ColumnElement[bool]:
    # An alert names its addressee; one of no dealer (the network queue) is theirs wherever
    # they work, one of a dealer only while that dealer is in their scope.
    return or_(Alert.dealer_id.is_(None), scope.where(Alert.__table__.c.dealer_id))


def unread_count(session: Session, *, user_id: int, scope: DealerScope) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(Alert.user_id == user_id, Alert.read_at.is_(None), _in_scope(scope))
        )
        or 0
    )


def latest_unread_id(session: Session, *, user_id: int, scope: DealerScope) -> int:
    return (
        session.scalar(
            select(func.max(Alert.id)).where(
                Alert.user_id == user_id, Alert.read_at.is_(None), _in_scope(scope)
            )
        )
        or 0
    )


def alerts_page(
    session: Session,
    *,
    user_id: int,
    scope: DealerScope,
    unread_only: bool,
    offset: int,
    limit: int,
) -> list[tuple[Alert, str | None]]:
    """A person's alerts, newest first, each with the customer's name (None: no name known, or
    the person was erased)."""
    statement = (
        select(Alert, ProfileSearch.name)
        .outerjoin(ProfileSearch, ProfileSearch.profile_id == Alert.profile_id)
        .where(Alert.user_id == user_id, _in_scope(scope))
        .order_by(Alert.id.desc())
        .offset(offset)
        .limit(limit)
    )
    if unread_only:
        statement = statement.where(Alert.read_at.is_(None))
    return [(alert, name) for alert, name in session.execute(statement)]


def count_alerts(session: Session, *, user_id: int, scope: DealerScope) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(Alert.user_id == user_id, _in_scope(scope))
        )
        or 0
    )


def alert_of(session: Session, *, alert_id: int, user_id: int, scope: DealerScope) -> Alert | None:
    return session.scalar(
        select(Alert).where(Alert.id == alert_id, Alert.user_id == user_id, _in_scope(scope))
    )


def mark_all_read(
    session: Session, *, user_id: int, scope: DealerScope, up_to_id: int, now: datetime
) -> int:
    """Unread alerts up to `up_to_id` (those the person saw listed) become read."""
    result = session.execute(
        update(Alert)
        .where(
            Alert.user_id == user_id,
            Alert.read_at.is_(None),
            Alert.id <= up_to_id,
            _in_scope(scope),
        )
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def settle_sla_warnings(session: Session, *, lead_id: int, now: datetime) -> int:
    """A lead's unread first-contact warnings become read: the lead was contacted or closed,
    so nothing is left to act on (they stayed in every manager's tray)."""
    result = session.execute(
        update(Alert)
        .where(Alert.lead_id == lead_id, Alert.kind == "sla_warning", Alert.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def new_alert_owners(session: Session, *, after_id: int) -> tuple[int, set[int]]:
    """(the newest alert id, the staff members with alerts after `after_id`): SQLite's poll."""
    rows = session.execute(select(Alert.id, Alert.user_id).where(Alert.id > after_id)).all()
    newest = max((alert_id for alert_id, _ in rows), default=after_id)
    return newest, {user_id for _, user_id in rows}


def newest_alert_id(session: Session) -> int:
    return session.scalar(select(func.max(Alert.id))) or 0


@functools.cache
def _hook_statements(dialect: str) -> dict[str, Any]:
    """What ingest asks, built once per dialect (cdp.sql.any_of): the hot path."""
    return {
        "assigned_leads": select(Lead.profile_id, Lead.id, Lead.assigned_user_id, Lead.dealer_id)
        .where(
            any_of(Lead.profile_id, "ids", dialect),
            Lead.stage.in_(OPEN_STAGES),
            Lead.assigned_user_id.is_not(None),
        )
        .order_by(Lead.updated_at, Lead.id),
    }


def assigned_open_leads(
    session: Session, profile_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int, int | None]]:
    """(lead id, salesperson, dealer) of each profile's latest open lead that has a salesperson."""
    if not profile_ids:
        return {}
    statement = _hook_statements(dialect_of(session))["assigned_leads"]
    found: dict[uuid.UUID, tuple[int, int, int | None]] = {}
    for pid, lead_id, user_id, dealer_id in session.connection().execute(
        statement, {"ids": list(profile_ids)}
    ):
        found[pid] = (lead_id, user_id, dealer_id)  # the last one wins
    return found


def recently_told(
    session: Session, profile_ids: Collection[uuid.UUID], *, since: datetime
) -> set[tuple[uuid.UUID, int]]:
    """(customer, salesperson) pairs told `customer_back` since `since`: the rate limit."""
    if not profile_ids:
        return set()
    rows = session.execute(
        select(Alert.profile_id, Alert.user_id).where(
            Alert.profile_id.in_(list(profile_ids)),
            Alert.kind == "customer_back",
            Alert.created_at >= since,
        )
    )
    return {(pid, user_id) for pid, user_id in rows if pid is not None}


def sla_warned(session: Session, *, lead_id: int) -> set[int]:
    """The managers already warned about this lead."""
    rows = session.execute(
        select(Alert.user_id).where(Alert.lead_id == lead_id, Alert.kind == "sla_warning")
    )
    return {user_id for (user_id,) in rows}


def session_still_valid(session: Session, *, session_id: int, idle: timedelta) -> bool:
    """Whether a sign-in an alert stream was opened with still holds (not signed out, not idle
    past the limit, the account active), read without touching it: an open stream is no
    activity of the person's, and must not keep their sign-in alive."""
    row = session.execute(
        select(StaffSession.ended_at, StaffSession.last_seen_at, StaffUser.active)
        .join(StaffUser, StaffUser.id == StaffSession.user_id)
        .where(StaffSession.id == session_id)
    ).first()
    if row is None:
        return False
    ended_at, last_seen_at, active = row
    return ended_at is None and active and utcnow() - last_seen_at <= idle


def leads_by_id(session: Session, ids: Sequence[int]) -> list[Lead]:
    return list(session.scalars(select(Lead).where(Lead.id.in_(sorted(set(ids))))))
