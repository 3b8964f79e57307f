"""The delivery record a stage change opens (sold) and closes (delivered): the car handed over
by a delivery specialist, not the salesperson."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cdp.leads import repository as repo
from cdp.local_time import local_today
from cdp.models import (
    Configuration,
    Delivery,
    Lead,
)


def describe_car(configuration: Configuration | None, model: str | None) -> str | None:
    if configuration is None:
        return model
    parts = [
        configuration.model or model,
        configuration.trim,
        configuration.engine,
        configuration.colour,
    ]
    return " · ".join(p for p in parts if p)[:300] or model


def queue_delivery(session: Session, lead: Lead, *, now: datetime) -> Delivery:
    existing = repo.scheduled_deliveries_of_lead(session, lead.id)
    if existing:
        return existing[0]
    configuration = repo.configuration_for_sale(session, lead.profile_id, lead.model)
    delivery = Delivery(
        dealer_id=lead.dealer_id,
        profile_id=lead.profile_id,
        lead_id=lead.id,
        car=describe_car(configuration, lead.model),
        configuration_code=configuration.code if configuration else None,
        price=configuration.total_price if configuration else None,
        status="scheduled",
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    return delivery


def finish_delivery(session: Session, delivery: Delivery, *, now: datetime) -> None:
    delivery.status = "delivered"
    delivery.delivered_at = now
    delivery.delivery_date = delivery.delivery_date or local_today(now)
    planned = repo.planned_delivery_appointment(
        session, profile_id=delivery.profile_id, lead_id=delivery.lead_id
    )
    if planned is not None:
        planned.status = "showed"
