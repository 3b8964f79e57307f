"""The queries ADF import needs: is this lead stored already, or a recent resend of one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from cdp.models import Event, Identity, Lead, QuarantinedMessage


def stored_message(session: Session, source_id: int, message_id: str) -> bool:
    return (
        session.scalar(
            select(Event.id)
            .where(Event.source_id == source_id, Event.message_id == message_id)
            .limit(1)
        )
        is not None
    )


def quarantined(session: Session, source_id: int, message_id: str) -> bool:
    return (
        session.scalar(
            select(QuarantinedMessage.id)
            .where(
                QuarantinedMessage.source_id == source_id,
                QuarantinedMessage.message_id == message_id,
            )
            .limit(1)
        )
        is not None
    )


def recent_lead_exists(
    session: Session,
    *,
    emails: Sequence[str],
    phones: Sequence[str],
    model: str,
    since: datetime,
) -> bool:
    """Whether the person holding one of these addresses or numbers has a lead for this car
    made since `since`."""
    wanted = [and_(Identity.kind == "email", Identity.value.in_(emails))] if emails else []
    if phones:
        wanted.append(and_(Identity.kind == "phone", Identity.value.in_(phones)))
    if not wanted:
        return False
    profiles = select(Identity.profile_id).where(or_(*wanted))
    found = session.scalar(
        select(Lead.id)
        .where(Lead.profile_id.in_(profiles), Lead.model == model, Lead.created_at >= since)
        .limit(1)
    )
    return found is not None
