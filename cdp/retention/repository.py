"""The rows each retention period ends: found by age, deleted a batch at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from cdp.models import (
    AdfDelivery,
    Alert,
    Appointment,
    AuditRecord,
    Configuration,
    ContactAttempt,
    Delivery,
    Event,
    Identity,
    Lead,
    LeadAssignment,
    LeadStageChange,
    Profile,
    QuarantinedMessage,
    ShowroomVisit,
)

# What makes a profile a person rather than an anonymous visitor (cdp.identity).
STRONG_KINDS = ("email", "phone", "user_id")


def anonymous_events(cutoff: datetime) -> Select[int]:
    """Events before the cutoff of visitors never linked to a person: no e-mail address, phone
    number or user id on their profile, nor on the profile that absorbed it."""
    person = select(Identity.id).where(
        Identity.kind.in_(STRONG_KINDS),
        or_(Identity.profile_id == Profile.id, Identity.profile_id == Profile.merged_into_id),
    )
    return (
        select(Event.id)
        .join(Profile, Profile.id == Event.profile_id)
        .where(Event.occurred_at < cutoff, ~exists(person))
    )


def idle_leads(cutoff: datetime) -> Select[int]:
    """Leads nobody touched since the cutoff (every change moves updated_at)."""
    return select(Lead.id).where(Lead.updated_at < cutoff)


def refused_messages(cutoff: datetime) -> Select[int]:
    return select(QuarantinedMessage.id).where(QuarantinedMessage.received_at < cutoff)


def audit_records(cutoff: datetime) -> Select[int]:
    return select(AuditRecord.id).where(AuditRecord.at < cutoff)


def count(session: Session, ids: Select[int]) -> int:
    return session.scalar(select(func.count()).select_from(ids.subquery())) or 0


def batch(session: Session, ids: Select[int], size: int) -> Sequence[int]:
    return session.scalars(ids.order_by(None).limit(size)).all()


def delete_events(session: Session, ids: Sequence[int]) -> int:
    # A saved configuration is the event it came with: it goes with it. A lead or appointment
    # made from one keeps its own record, without the link.
    session.execute(delete(Configuration).where(Configuration.event_id.in_(ids)))
    for made in (Lead, Appointment):
        session.execute(
            update(made).where(made.source_event_id.in_(ids)).values(source_event_id=None)
        )
    return session.execute(delete(Event).where(Event.id.in_(ids))).rowcount or 0  # type: ignore[attr-defined]


def delete_leads(session: Session, ids: Sequence[int]) -> int:
    # Its history goes with it; appointments and deliveries are the customer's, and stay.
    session.execute(delete(LeadStageChange).where(LeadStageChange.lead_id.in_(ids)))
    session.execute(delete(ContactAttempt).where(ContactAttempt.lead_id.in_(ids)))
    session.execute(delete(AdfDelivery).where(AdfDelivery.lead_id.in_(ids)))
    session.execute(delete(LeadAssignment).where(LeadAssignment.lead_id.in_(ids)))
    for linked in (Appointment, Delivery, ShowroomVisit, Alert):
        session.execute(update(linked).where(linked.lead_id.in_(ids)).values(lead_id=None))
    return session.execute(delete(Lead).where(Lead.id.in_(ids))).rowcount or 0  # type: ignore[attr-defined]


def delete_refused(session: Session, ids: Sequence[int]) -> int:
    statement = delete(QuarantinedMessage).where(QuarantinedMessage.id.in_(ids))
    return session.execute(statement).rowcount or 0  # type: ignore[attr-defined]


def delete_audit(session: Session, ids: Sequence[int]) -> int:
    statement = delete(AuditRecord).where(AuditRecord.id.in_(ids))
    return session.execute(statement).rowcount or 0  # type: ignore[attr-defined]


def alerts(cutoff: datetime) -> Select[int]:
    return select(Alert.id).where(Alert.created_at < cutoff)


def delete_alerts(session: Session, ids: Sequence[int]) -> int:
    statement = delete(Alert).where(Alert.id.in_(ids))
    return session.execute(statement).rowcount or 0  # type: ignore[attr-defined]
