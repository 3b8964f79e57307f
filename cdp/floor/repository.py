"""Every query of the showroom floor: visits, the dealer's salespeople, today's appointments."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cdp.models import (
    OPEN_STAGES,
    Appointment,
    Dealer,
    Lead,
    ShowroomVisit,
    StaffDealer,
    StaffUser,
)

# The appointments that bring a customer onto the sales floor (a delivery is the handover team's).
FLOOR_APPOINTMENT_KINDS = ("visit", "test_drive")


def visit(session: Session, visit_id: int, *, for_update: bool = False) -> ShowroomVisit | None:
    statement = select(ShowroomVisit).where(ShowroomVisit.id == visit_id)
    if for_update:
        statement = statement.with_for_update()
    return session.scalars(statement).first()


def visits_in_progress(session: Session, dealer_id: int) -> Sequence[ShowroomVisit]:
    return session.scalars(
        select(ShowroomVisit)
        .where(ShowroomVisit.dealer_id == dealer_id, ShowroomVisit.ended_at.is_(None))
        .order_by(ShowroomVisit.arrived_at, ShowroomVisit.id)
    ).all()


def visits_between(
    session: Session, dealer_id: int, start: datetime, end: datetime
) -> Sequence[ShowroomVisit]:
    """Visits that arrived in [start, end), first arrival first."""
    return session.scalars(
        select(ShowroomVisit)
        .where(
            ShowroomVisit.dealer_id == dealer_id,
            ShowroomVisit.arrived_at >= start,
            ShowroomVisit.arrived_at < end,
        )
        .order_by(ShowroomVisit.arrived_at, ShowroomVisit.id)
    ).all()


def visit_in_progress_of(
    session: Session, dealer_id: int, profile_id: uuid.UUID
) -> ShowroomVisit | None:
    return session.scalars(
        select(ShowroomVisit).where(
            ShowroomVisit.dealer_id == dealer_id,
            ShowroomVisit.profile_id == profile_id,
            ShowroomVisit.ended_at.is_(None),
        )
    ).first()


def active_dealers(session: Session, dealer_ids: Collection[int] | None) -> Sequence[Dealer]:
    """Active dealers, by code; only those of `dealer_ids` unless it is None (the network)."""
    statement = select(Dealer).where(Dealer.active.is_(True)).order_by(Dealer.code)
    if dealer_ids is not None:
        statement = statement.where(Dealer.id.in_(sorted(dealer_ids)))
    return session.scalars(statement).all()


def staff_at_dealer(
    session: Session, dealer_id: int, roles: Collection[str]
) -> Sequence[StaffUser]:
    """Active staff of these roles who work at the dealer, by name."""
    if not roles:
        return []
    return session.scalars(
        select(StaffUser)
        .join(StaffDealer, StaffDealer.user_id == StaffUser.id)
        .where(
            StaffDealer.dealer_id == dealer_id,
            StaffUser.active.is_(True),
            StaffUser.role.in_(sorted(roles)),
        )
        .order_by(StaffUser.name, StaffUser.id)
    ).all()


def busy_with(session: Session, user_ids: Collection[int]) -> dict[int, ShowroomVisit]:
    """The visit each of these salespeople has in progress (at any dealer), if any."""
    if not user_ids:
        return {}
    rows = session.scalars(
        select(ShowroomVisit)
        .where(
            ShowroomVisit.salesperson_user_id.in_(sorted(user_ids)),
            ShowroomVisit.ended_at.is_(None),
        )
        .order_by(ShowroomVisit.started_with_salesperson_at, ShowroomVisit.id)
    )
    return {row.salesperson_user_id: row for row in rows if row.salesperson_user_id is not None}


def last_visit_started(session: Session, user_ids: Collection[int]) -> dict[int, datetime]:
    """When each salesperson's latest visit began (those who never had one are absent)."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(
            ShowroomVisit.salesperson_user_id, func.max(ShowroomVisit.started_with_salesperson_at)
        )
        .where(ShowroomVisit.salesperson_user_id.in_(sorted(user_ids)))
        .group_by(ShowroomVisit.salesperson_user_id)
    )
    return {
        user_id: started for user_id, started in rows if user_id is not None and started is not None
    }


def planned_floor_appointments(
    session: Session, dealer_id: int, start: datetime, end: datetime
) -> Sequence[Appointment]:
    """The dealer's visits and test drives in [start, end) still waiting for their customer."""
    return session.scalars(
        select(Appointment)
        .where(
            Appointment.dealer_id == dealer_id,
            Appointment.kind.in_(FLOOR_APPOINTMENT_KINDS),
            Appointment.status == "planned",
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
        .order_by(Appointment.starts_at, Appointment.id)
    ).all()


def floor_appointments_between(
    session: Session, dealer_id: int, start: datetime, end: datetime
) -> Sequence[tuple[datetime, str]]:
    """(starts_at, status) of the dealer's visits and test drives in [start, end)."""
    rows = session.execute(
        select(Appointment.starts_at, Appointment.status).where(
            Appointment.dealer_id == dealer_id,
            Appointment.kind.in_(FLOOR_APPOINTMENT_KINDS),
            Appointment.starts_at >= start,
            Appointment.starts_at < end,
        )
    )
    return [(starts_at, status) for starts_at, status in rows]


def open_lead_at_dealer(session: Session, dealer_id: int, profile_id: uuid.UUID) -> Lead | None:
    """The customer's most recently updated open lead at this dealer."""
    return session.scalars(
        select(Lead)
        .where(
            Lead.dealer_id == dealer_id,
            Lead.profile_id == profile_id,
            Lead.stage.in_(OPEN_STAGES),
        )
        .order_by(Lead.updated_at.desc(), Lead.id.desc())
        .limit(1)
    ).first()
