"""The handover queue: sold cars waiting for a delivery specialist, not for the salesperson."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.errors import CdpError, NotFound
from cdp.forms import FormError, parse_date, parse_id, parse_time
from cdp.ids import row_id
from cdp.leads import deliveries as delivery_service
from cdp.local_time import local_today
from cdp.models import Delivery, utcnow
from cdp.web import id_or_404, not_found, posting, redirect, render, require

router = APIRouter(include_in_schema=False)

DeliveriesStaff = Annotated[StaffContext, Depends(require(Permission.DELIVERIES))]
DeliveriesPoster = Annotated[StaffContext, Depends(posting(Permission.DELIVERIES))]
Short = Annotated[str, Form(max_length=400)]
QUEUE = "/showroom/deliveries"


@dataclass(frozen=True, slots=True)
class DeliveryView:
    delivery: Delivery
    name: str | None


def _queue_page(
    request: Request,
    session: Session,
    staff: StaffContext,
    *,
    mine: bool,
    error: FormError | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    done: str = "",
    undone: str = "",
) -> Response:
    rows = delivery_service.delivery_queue(
        session, specialist_id=staff.user_id if mine else None, scope=staff.scope
    )
    now = utcnow()
    return render(
        request,
        "showroom/deliveries/list.html",
        {
            "rows": rows,
            "mine": mine,
            # Per handover, only who may take it: its dealer's delivery staff and managers.
            "specialists": delivery_service.specialist_choices(
                session, [row.delivery for row in rows]
            ),
            "today": local_today(now),
            "error": error,
            "values": values or {},
            "done": _just_delivered(session, staff, done, now=now),
            "undone": _recent(session, staff, undone),
            "undo_seconds": UNDO_OFFER_SECONDS,
        },
        status_code=status_code,
    )


# How long the page offers "Undo" after "Mark delivered" (the server allows a little longer).
UNDO_OFFER_SECONDS = 10


def _recent(session: Session, staff: StaffContext, delivery_id: str) -> DeliveryView | None:
    """The delivery named in the address after an action, for the message of what happened."""
    row = row_id(delivery_id)
    if row is None:
        return None
    try:
        delivery = delivery_service.get_delivery(session, row)
    except CdpError:
        return None
    if not staff.scope.sees(delivery.dealer_id):
        return None
    return DeliveryView(delivery, delivery_service.customer_name(session, delivery))


def _just_delivered(
    session: Session, staff: StaffContext, delivery_id: str, *, now: datetime
) -> DeliveryView | None:
    view = _recent(session, staff, delivery_id)
    if view is None or not delivery_service.can_undo_delivered(view.delivery, now=now):
        return None
    return view


@router.get(QUEUE, response_class=HTMLResponse)
def queue(
    request: Request,
    session: DbSession,
    staff: DeliveriesStaff,
    mine: str = "",
    done: Annotated[str, Query(max_length=20)] = "",
    undone: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return _queue_page(
        request, session, staff, mine=mine in ("1", "on", "true"), done=done, undone=undone
    )


def _delivery_or_404(session: Session, staff: StaffContext, delivery_id: str) -> Delivery:
    """The delivery, if it is at the caller's dealers; another dealer's is answered as unknown."""
    try:
        delivery = delivery_service.get_delivery(session, id_or_404(delivery_id, "delivery"))
    except NotFound as error:
        raise not_found("delivery") from error
    if not staff.scope.sees(delivery.dealer_id):
        raise not_found("delivery")
    return delivery


@router.post(QUEUE + "/{delivery_id}/plan", response_class=HTMLResponse)
def plan(
    request: Request,
    session: DbSession,
    staff: DeliveriesPoster,
    delivery_id: str,
    delivery_date: Short = "",
    delivery_time: Short = "",
    specialist_user_id: Short = "",
) -> Response:
    """Set the handover day and time, and who hands the car over."""
    delivery = _delivery_or_404(session, staff, delivery_id)
    values = {
        "delivery_date": delivery_date,
        "delivery_time": delivery_time,
        "specialist_user_id": specialist_user_id,
    }
    try:
        delivery_service.schedule_delivery(
            session,
            delivery=delivery,
            delivery_date=parse_date(delivery_date, field_name="delivery_date"),
            at=parse_time(delivery_time, field_name="delivery_time"),
            specialist_user_id=parse_id(
                specialist_user_id, field_name="specialist_user_id", what="a delivery specialist"
            ),
            by_user_id=staff.user_id,
        )
    except CdpError as error:
        session.rollback()
        return _queue_page(
            request,
            session,
            staff,
            mine=False,
            error=FormError(
                form="plan", message=error.message, field=error.field, target_id=delivery.id
            ),
            values=values,
            status_code=error.status_code,
        )
    return redirect(request, QUEUE)


@router.post(QUEUE + "/{delivery_id}/delivered", response_class=HTMLResponse)
def delivered(
    request: Request, session: DbSession, staff: DeliveriesPoster, delivery_id: str
) -> Response:
    """The car is handed over: the delivery leaves the queue and its lead becomes delivered."""
    delivery = _delivery_or_404(session, staff, delivery_id)
    try:
        delivery_service.mark_delivered(session, delivery=delivery, by_user_id=staff.user_id)
    except CdpError as error:
        session.rollback()
        return _queue_page(
            request,
            session,
            staff,
            mine=False,
            error=FormError(
                form="delivered", message=error.message, field=None, target_id=delivery.id
            ),
            status_code=error.status_code,
        )
    return redirect(request, f"{QUEUE}?done={delivery.id}")


@router.post(QUEUE + "/{delivery_id}/undo-delivered", response_class=HTMLResponse)
def undo_delivered(
    request: Request, session: DbSession, staff: DeliveriesPoster, delivery_id: str
) -> Response:
    """Take a "Mark delivered" back within a short window: the car is in the queue again."""
    delivery = _delivery_or_404(session, staff, delivery_id)
    try:
        delivery_service.undo_delivered(session, delivery=delivery, by_user_id=staff.user_id)
    except CdpError as error:
        session.rollback()
        return _queue_page(
            request,
            session,
            staff,
            mine=False,
            error=FormError(form="delivered", message=error.message, field=None, target_id=None),
            status_code=error.status_code,
        )
    return redirect(request, f"{QUEUE}?undone={delivery.id}")
