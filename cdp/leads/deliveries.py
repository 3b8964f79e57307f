"""The delivery queue: scheduling a sold car's handover and marking it delivered. Every function
flushes; the caller commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.dealers.visibility import NETWORK, DealerScope
from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.leads import repository as repo
from cdp.leads.checks import (
    DEFAULT_VISIT_TIME,
    PLAN_HORIZON,
    roles_with,
    staff_member,
)
from cdp.leads.dealer_staff import check_works_for, choice_lists
from cdp.leads.handover import finish_delivery
from cdp.leads.schemas import DeliveryRow
from cdp.leads.stages import (
    change_stage,
)
from cdp.local_time import local_start, local_today, to_local
from cdp.models import (
    Appointment,
    Dealer,
    Delivery,
    LeadStageChange,
    StaffUser,
    utcnow,
)
from cdp.profiles.projection import refresh_search

DELIVERY_STATUSES = ("scheduled", "delivered", "cancelled")
# How long "Mark delivered" can be taken back: the page offers it for a few seconds, the server
# allows a little longer for a slow network.
UNDO_WINDOW = timedelta(minutes=2)


def get_delivery(session: Session, delivery_id: int) -> Delivery:
    delivery = repo.delivery(session, delivery_id)
    if delivery is None:
        raise NotFound("There is no delivery with this link.", field="delivery_id")
    return delivery


def _not_their_handover(dealer: Dealer | None) -> str:
    if dealer is None:  # the network's queue
        return (
            "That person works at a dealer, and this handover is in the network's queue, which "
            "only the importer's staff see: choose someone from the list."
        )
    return (
        f"That person does not work at {dealer.name}, so this handover would not be in "
        f"their queue: choose a delivery specialist of {dealer.name} from the list."
    )


def check_specialist(session: Session, delivery: Delivery, user_id: int) -> StaffUser:
    """The specialist chosen for a handover: an active staff member whose role does handovers
    (the deliveries permission) and who works at the handover's dealer (cdp/leads/dealer_staff),
    else InvalidInput. Staff of another dealer would not see the handover in their queue."""
    member = staff_member(
        session,
        user_id,
        Permission.DELIVERIES,
        field="specialist_user_id",
        what="a delivery specialist",
    )
    return check_works_for(
        session,
        member,
        delivery.dealer_id,
        field="specialist_user_id",
        refusal=_not_their_handover,
    )


def schedule_delivery(
    session: Session,
    *,
    delivery: Delivery,
    delivery_date: date | None,
    at: time | None,
    specialist_user_id: int | None,
    by_user_id: int | None,
    now: datetime | None = None,
) -> Delivery:
    """Set the handover day (and time) and the specialist. A dated handover is also a delivery
    appointment, so it shows on the day's visitor list."""
    now = now or utcnow()
    if delivery.status != "scheduled":
        raise InvalidInput(
            f"This delivery is {delivery.status}; it can no longer be planned.",
            field="delivery_date",
        )
    if delivery_date is not None and delivery_date < local_today(now):
        raise InvalidInput("That day has passed. Pick today or a later day.", field="delivery_date")
    if delivery_date is not None and delivery_date > local_today(now + PLAN_HORIZON):
        raise InvalidInput("That is more than a year ahead. Check the date.", field="delivery_date")
    if at is not None and delivery_date is None:
        raise InvalidInput("Pick a day for this time.", field="delivery_date")
    if specialist_user_id is not None:
        check_specialist(session, delivery, specialist_user_id)
    delivery.delivery_date = delivery_date
    delivery.specialist_user_id = specialist_user_id
    planned = repo.planned_delivery_appointment(
        session, profile_id=delivery.profile_id, lead_id=delivery.lead_id
    )
    if delivery_date is None:
        if planned is not None:
            planned.status = "cancelled"
    else:
        starts_at = local_start(delivery_date, at or DEFAULT_VISIT_TIME)
        if planned is None:
            planned = Appointment(
                dealer_id=delivery.dealer_id,
                profile_id=delivery.profile_id,
                lead_id=delivery.lead_id,
                kind="delivery",
                status="planned",
                model=(delivery.car or "")[:200] or None,
                note=f"Handover of {delivery.car}" if delivery.car else "Handover",
                created_by_user_id=by_user_id,
                created_at=now,
                starts_at=starts_at,
            )
            session.add(planned)
        planned.starts_at = starts_at
        planned.user_id = specialist_user_id
    session.flush()
    return delivery


def mark_delivered(
    session: Session, *, delivery: Delivery, by_user_id: int | None, now: datetime | None = None
) -> Delivery:
    """The car is handed over: the delivery is done and its lead moves to delivered."""
    now = now or utcnow()
    if delivery.status != "scheduled":
        raise InvalidInput(f"This delivery is already {delivery.status}.", field="status")
    lead = repo.lead(session, delivery.lead_id) if delivery.lead_id else None
    if lead is not None and lead.stage == "sold":
        change_stage(session, lead=lead, to_stage="delivered", by_user_id=by_user_id, now=now)
    if delivery.status == "scheduled":  # a delivery without a sold lead
        finish_delivery(session, delivery, now=now)
    session.flush()
    return delivery


def customer_name(session: Session, delivery: Delivery) -> str | None:
    return repo.profile_names(session, {delivery.profile_id}).get(delivery.profile_id)


def can_undo_delivered(delivery: Delivery, *, now: datetime) -> bool:
    return (
        delivery.status == "delivered"
        and delivery.delivered_at is not None
        and now - delivery.delivered_at <= UNDO_WINDOW
    )


def undo_delivered(
    session: Session, *, delivery: Delivery, by_user_id: int | None, now: datetime | None = None
) -> Delivery:
    """Take a "Mark delivered" back (a mis-tap): the car is in the queue again, as it was, and
    its lead is sold again; the lead's history records both steps."""
    now = now or utcnow()
    if not can_undo_delivered(delivery, now=now):
        raise Conflict(
            "This handover can no longer be undone: it was marked delivered more than "
            f"{int(UNDO_WINDOW.total_seconds() // 60)} minutes ago, or not at all."
        )
    showed = repo.planned_delivery_appointment(
        session, profile_id=delivery.profile_id, lead_id=delivery.lead_id, status="showed"
    )
    if showed is not None:
        showed.status = "planned"
    else:  # the day was only filled in by marking it delivered
        delivery.delivery_date = None
    delivery.status = "scheduled"
    delivery.delivered_at = None
    lead = repo.lead(session, delivery.lead_id) if delivery.lead_id else None
    if lead is not None and lead.stage == "delivered":
        lead.stage = "sold"
        lead.updated_at = now
        session.add(
            LeadStageChange(
                lead_id=lead.id,
                from_stage="delivered",
                to_stage="sold",
                changed_by_user_id=by_user_id,
                changed_at=now,
            )
        )
    session.flush()
    if lead is not None:
        refresh_search(session, [lead.profile_id])
    return delivery


def delivery_queue(
    session: Session, *, specialist_id: int | None = None, scope: DealerScope = NETWORK
) -> list[DeliveryRow]:
    deliveries = repo.scheduled_deliveries(session, specialist_id=specialist_id, scope=scope)
    names = repo.profile_names(session, {d.profile_id for d in deliveries})
    lead_ids = {d.lead_id for d in deliveries if d.lead_id}
    leads = repo.leads_by_id(session, lead_ids)
    planned = repo.planned_delivery_appointments(session, lead_ids)
    people = repo.staff_names(
        session,
        {d.specialist_user_id for d in deliveries if d.specialist_user_id}
        | {lead.assigned_user_id for lead in leads.values() if lead.assigned_user_id},
    )
    rows = []
    for delivery in deliveries:
        lead = leads.get(delivery.lead_id or 0)
        appointment = planned.get(delivery.lead_id or 0) if delivery.delivery_date else None
        rows.append(
            DeliveryRow(
                delivery=delivery,
                name=names.get(delivery.profile_id),
                salesperson=people.get(lead.assigned_user_id or 0) if lead else None,
                specialist=people.get(delivery.specialist_user_id or 0),
                appointment_local=to_local(appointment.starts_at) if appointment else None,
            )
        )
    return rows


def specialist_choices(
    session: Session, deliveries: Iterable[Delivery]
) -> dict[int, list[tuple[int, str]]]:
    """The specialist choices of each delivery (by its id): the active staff of the roles that
    do handovers who work at its dealer (check_specialist's rule), by name. A specialist set
    before who no longer qualifies (another dealer's, deactivated) stays on that delivery's
    list, said to be so, so the form neither hides nor silently drops them."""
    return choice_lists(
        session,
        roles_with(Permission.DELIVERIES),
        ((delivery.id, delivery.dealer_id, delivery.specialist_user_id) for delivery in deliveries),
        unfit="cannot take this handover",
    )
