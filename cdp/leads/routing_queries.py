"""The queries of lead routing and speed to lead: each answers for a whole ingest transaction's
leads in one statement, so routing costs the same few statements for one lead or a hundred."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Row, Table, exists, func, select, update
from sqlalchemy.orm import Session

from cdp import db
from cdp.dealers.visibility import NETWORK, DealerScope
from cdp.models import (
    OPEN_STAGES,
    ContactAttempt,
    Dealer,
    Event,
    Lead,
    LeadAssignment,
    ProfileSearch,
    ProfileTrait,
    StaffDealer,
    StaffUser,
)
from cdp.sql import any_of, dialect_of
from cdp.taxonomy import DEALER_SELECTED

_LEAD_DEALER = cast(Table, Lead.__table__).c.dealer_id


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """Routing's queries, built once per dialect and run on the connection (they run inside
    ingest: see cdp.sql.any_of)."""
    return {
        "dealers": select(
            Dealer.id,
            Dealer.code,
            Dealer.active,
            Dealer.postal_areas,
            Dealer.country,
            Dealer.time_zone,
            Dealer.opening_hours,
            Dealer.sla_first_contact_minutes,
            Dealer.sla_warning_minutes,
        ).order_by(Dealer.id),
        "dealer_selected": select(Event.profile_id, Event.properties)
        .where(any_of(Event.profile_id, "ids", dialect), Event.name == DEALER_SELECTED)
        .order_by(Event.occurred_at, Event.id),
        "postal_codes": select(ProfileTrait.profile_id, ProfileTrait.value).where(
            any_of(ProfileTrait.profile_id, "ids", dialect), ProfileTrait.name == "postal_code"
        ),
        # Each salesperson with their rotation state in one statement (it runs per ingest
        # transaction that makes leads): when routing last gave them a lead, and their open
        # leads at this dealer, both from indexes (to_user_id, assigned_at), (assigned, stage).
        "salespeople": select(
            StaffDealer.user_id,
            StaffDealer.dealer_id,
            StaffUser.availability,
            select(func.max(LeadAssignment.assigned_at))
            .where(
                LeadAssignment.to_user_id == StaffDealer.user_id,
                LeadAssignment.by_user_id.is_(None),
            )
            .scalar_subquery(),
            select(func.count())
            .select_from(Lead)
            .where(
                Lead.assigned_user_id == StaffDealer.user_id,
                Lead.stage.in_(OPEN_STAGES),
                Lead.dealer_id == StaffDealer.dealer_id,
            )
            .scalar_subquery(),
        )
        .join(StaffUser, StaffUser.id == StaffDealer.user_id)
        .where(
            any_of(StaffDealer.dealer_id, "ids", dialect),
            StaffUser.active.is_(True),
            StaffUser.role == "sales",
        )
        .order_by(StaffDealer.user_id),
    }


def _run(session: Session, name: str, ids: Collection[Any] | None = None) -> Any:
    statement = _statements(dialect_of(session))[name]
    params = {"ids": list(ids)} if ids is not None else {}
    return session.connection().execute(statement, params)


@dataclass(frozen=True, slots=True)
class DealerEntry:
    """What routing and the SLA need of a dealer."""

    id: int
    code: str
    active: bool
    postal_areas: tuple[str, ...]
    country: str
    time_zone: str | None
    opening_hours: str | None
    sla_minutes: int
    sla_warning_minutes: int


def dealer_directory(session: Session) -> list[DealerEntry]:
    """Every dealer, active or not (a named inactive dealer is warned about, not unknown)."""
    return [
        DealerEntry(
            id=row[0],
            code=row[1],
            active=bool(row[2]),
            postal_areas=tuple(row[3] or ()),
            country=row[4],
            time_zone=row[5],
            opening_hours=row[6],
            sla_minutes=row[7],
            sla_warning_minutes=row[8],
        )
        for row in _run(session, "dealers")
    ]


def latest_dealer_selected(
    session: Session, profile_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The properties of each profile's latest Dealer Selected event (by event time)."""
    if not profile_ids:
        return {}
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for pid, properties in _run(session, "dealer_selected", profile_ids):
        if pid is not None and isinstance(properties, dict):
            found[pid] = properties  # the last one wins
    return found


def postal_codes(session: Session, profile_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each profile's postal code trait (stored before the leads of the same transaction are
    made, unlike the search projection, which is refreshed after them)."""
    if not profile_ids:
        return {}
    rows = _run(session, "postal_codes", profile_ids)
    return {pid: str(value) for pid, value in rows if isinstance(value, (str, int))}


@dataclass(frozen=True, slots=True)
class Salesperson:
    user_id: int
    dealer_id: int
    availability: str
    last_routed_at: datetime | None  # None: routing never gave them a lead
    open_leads: int  # at this dealer


def salespeople_at(session: Session, dealer_ids: Collection[int]) -> list[Salesperson]:
    """The active salespeople (role sales) of these dealers."""
    if not dealer_ids:
        return []
    rows = _run(session, "salespeople", sorted(dealer_ids))
    return [
        Salesperson(user_id, dealer_id, state, _aware(last), open_leads or 0)
        for user_id, dealer_id, state, last, open_leads in rows
    ]


def _aware(moment: Any) -> datetime | None:
    """A subquery's max() of a UtcDateTime column comes back as the driver gives it (text on
    SQLite, a datetime on PostgreSQL); routing compares aware UTC times."""
    if moment is None:
        return None
    found = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    assert isinstance(found, datetime)
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def open_lead_owners(
    session: Session, profile_ids: Collection[uuid.UUID]
) -> dict[tuple[uuid.UUID, int], int]:
    """(profile, dealer) -> the salesperson of the customer's latest open lead there."""
    if not profile_ids:
        return {}
    found: dict[tuple[uuid.UUID, int], int] = {}
    for pid, dealer_id, user_id in session.execute(
        select(Lead.profile_id, Lead.dealer_id, Lead.assigned_user_id)
        .where(
            Lead.profile_id.in_(list(profile_ids)),
            Lead.stage.in_(OPEN_STAGES),
            Lead.assigned_user_id.is_not(None),
            Lead.dealer_id.is_not(None),
        )
        .order_by(Lead.updated_at, Lead.id)
    ):
        if dealer_id is not None and user_id is not None:
            found[(pid, dealer_id)] = user_id  # the last one wins
    return found


def insert_assignments(session: Session, rows: list[dict[str, Any]]) -> None:
    db.insert_rows(session, cast(Table, LeadAssignment.__table__), rows)


def assignments_of(session: Session, lead_ids: Sequence[int]) -> Sequence[LeadAssignment]:
    if not lead_ids:
        return []
    return session.scalars(
        select(LeadAssignment)
        .where(LeadAssignment.lead_id.in_(list(lead_ids)))
        .order_by(LeadAssignment.assigned_at, LeadAssignment.id)
    ).all()


def has_contact_attempt(session: Session, lead_id: int) -> bool:
    return bool(session.scalar(select(exists().where(ContactAttempt.lead_id == lead_id))))


def uncontacted_open_leads(
    session: Session,
    *,
    created_before: datetime,
    warned: bool | None,
    limit: int | None = None,
    scope: DealerScope = NETWORK,
) -> Sequence[Row[Lead, str | None]]:
    """Open leads of the dealers in `scope` with no contact attempt that came in before
    `created_before`, oldest first, with the customer's name; `warned` False: only those not
    warned yet."""
    stmt = (
        select(Lead, ProfileSearch.name)
        .outerjoin(ProfileSearch, ProfileSearch.profile_id == Lead.profile_id)
        .where(
            Lead.stage.in_(OPEN_STAGES),
            Lead.created_at <= created_before,
            ~exists().where(ContactAttempt.lead_id == Lead.id),
            scope.where(_LEAD_DEALER),
        )
        .order_by(Lead.created_at, Lead.id)
    )
    if warned is False:
        stmt = stmt.where(Lead.sla_warned_at.is_(None))
    if limit is not None:
        stmt = stmt.limit(limit)
    return session.execute(stmt).all()


def mark_warned(session: Session, lead_ids: Sequence[int], at: datetime) -> None:
    if lead_ids:
        session.execute(
            update(Lead)
            .where(Lead.id.in_(list(lead_ids)), Lead.sla_warned_at.is_(None))
            .values(sla_warned_at=at)
            .execution_options(synchronize_session="fetch")
        )


def mark_breached(session: Session, breaches: dict[int, datetime]) -> None:
    for lead_id, due in breaches.items():
        session.execute(
            update(Lead)
            .where(Lead.id == lead_id, Lead.sla_breached_at.is_(None))
            .values(sla_breached_at=due)
            .execution_options(synchronize_session="fetch")
        )


def breach_count(session: Session, *, since: datetime, scope: DealerScope = NETWORK) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Lead)
            .where(Lead.sla_breached_at >= since, scope.where(_LEAD_DEALER))
        )
        or 0
    )
