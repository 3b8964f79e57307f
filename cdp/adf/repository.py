"""The queries of ADF: is a lead stored already or a recent resend of one; the delivery log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from cdp.dealers.visibility import DealerScope
from cdp.models import AdfDelivery, Dealer, Event, Identity, Lead, ProfileSearch, QuarantinedMessage


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


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    delivery: AdfDelivery
    dealer_code: str
    profile_id: uuid.UUID | None
    name: str | None


def delivery_page(
    session: Session, scope: DealerScope, *, page: int, per_page: int
) -> tuple[int, list[DeliveryRow]]:
    """The deliveries of the dealers in scope, newest first, and how many there are."""
    where = scope.where(AdfDelivery.dealer_id)
    total = session.scalar(select(func.count()).select_from(AdfDelivery).where(where)) or 0
    rows = session.execute(
        select(AdfDelivery, Dealer.code, Lead.profile_id, ProfileSearch.name)
        .join(Dealer, Dealer.id == AdfDelivery.dealer_id)
        .join(Lead, Lead.id == AdfDelivery.lead_id)
        .outerjoin(ProfileSearch, ProfileSearch.profile_id == Lead.profile_id)
        .where(where)
        .order_by(AdfDelivery.created_at.desc(), AdfDelivery.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return total, [DeliveryRow(d, code, pid, name) for d, code, pid, name in rows]


def delivery_in_scope(session: Session, scope: DealerScope, delivery_id: int) -> AdfDelivery | None:
    return session.scalar(
        select(AdfDelivery).where(AdfDelivery.id == delivery_id, scope.where(AdfDelivery.dealer_id))
    )


def dealers_in_scope(session: Session, scope: DealerScope) -> list[Dealer]:
    return list(
        session.scalars(
            select(Dealer)
            .where(Dealer.active.is_(True), scope.where(Dealer.id))
            .order_by(Dealer.code)
        )
    )
