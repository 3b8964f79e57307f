"""Queries for what happens around a customer in the showroom: leads, notes, contacts, visits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.models import (
    Appointment,
    ContactAttempt,
    Delivery,
    Lead,
    LeadStageChange,
    Note,
    StaffUser,
)


def leads_of(session: Session, ids: Sequence[uuid.UUID]) -> Sequence[Lead]:
    """Latest first."""
    return session.scalars(
        select(Lead)
        .where(Lead.profile_id.in_(ids))
        .order_by(Lead.updated_at.desc(), Lead.id.desc())
    ).all()


def stage_changes_of(session: Session, lead_ids: Sequence[int]) -> Sequence[LeadStageChange]:
    return session.scalars(
        select(LeadStageChange)
        .where(LeadStageChange.lead_id.in_(lead_ids))
        .order_by(LeadStageChange.changed_at)
    ).all()


def notes_of(session: Session, ids: Sequence[uuid.UUID]) -> Sequence[Note]:
    return session.scalars(
        select(Note).where(Note.profile_id.in_(ids)).order_by(Note.created_at.desc())
    ).all()


def contacts_of(session: Session, ids: Sequence[uuid.UUID]) -> Sequence[ContactAttempt]:
    return session.scalars(
        select(ContactAttempt)
        .where(ContactAttempt.profile_id.in_(ids))
        .order_by(ContactAttempt.attempted_at.desc())
    ).all()


def appointments_of(session: Session, ids: Sequence[uuid.UUID]) -> Sequence[Appointment]:
    return session.scalars(
        select(Appointment)
        .where(Appointment.profile_id.in_(ids))
        .order_by(Appointment.starts_at.desc())
    ).all()


def deliveries_of(session: Session, ids: Sequence[uuid.UUID]) -> Sequence[Delivery]:
    return session.scalars(
        select(Delivery).where(Delivery.profile_id.in_(ids)).order_by(Delivery.created_at.desc())
    ).all()


def staff_names(session: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    return dict(
        session.execute(select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(user_ids)))
        .tuples()
        .all()
    )
