"""Today's visitors: who is expected today and in the coming days, with what they configured
and how ready they are to buy, so the salesperson prepares before they arrive; and planning
appointments and marking who arrived."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.errors import CdpError, NotFound
from cdp.forms import FormError, parse_id, parse_local_datetime, safe_next
from cdp.leads import appointments as appointment_service
from cdp.leads import checks as lead_checks
from cdp.leads.labels import OPTIONS
from cdp.local_time import local_today, to_local
from cdp.models import utcnow
from cdp.web import (
    confirm_step,
    customer_url,
    dealer_choice,
    id_or_404,
    not_found,
    person_or_404,
    posting,
    profile_uuid,
    redirect,
    render,
    require,
)
from showroom.deal_panel import deal_panel

router = APIRouter(include_in_schema=False)

AppointmentsStaff = Annotated[StaffContext, Depends(require(Permission.APPOINTMENTS))]
AppointmentsPoster = Annotated[StaffContext, Depends(posting(Permission.APPOINTMENTS))]
Short = Annotated[str, Form(max_length=400)]
Text = Annotated[str, Form(max_length=5000)]
DAYS = 7


def _today_page(
    request: Request,
    session: Session,
    staff: StaffContext,
    *,
    mine: bool,
    dealer: str = "",
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    now = utcnow()
    choice = dealer_choice(session, staff, dealer)
    days = appointment_service.expected_visitors(
        session,
        now=now,
        days=DAYS,
        user_id=staff.user_id if mine else None,
        scope=choice.scope,
    )
    query = request.url.query
    return render(
        request,
        "showroom/today/list.html",
        {
            "days": days,
            "mine": mine,
            "total": sum(len(day.visitors) for day in days),
            "next_url": "/showroom/today" + (f"?{query}" if query else ""),
            "error": error,
            "choice": choice,
        },
        status_code=404 if choice.problem and status_code == 200 else status_code,
    )


@router.get("/showroom/today", response_class=HTMLResponse)
def today(
    request: Request,
    session: DbSession,
    staff: AppointmentsStaff,
    mine: str = "",
    dealer: str = "",
) -> Response:
    """Who is expected at the caller's dealers (`dealer`: one of them)."""
    return _today_page(
        request, session, staff, mine=mine in ("1", "on", "true"), dealer=dealer[:40]
    )


def _plan_page(
    request: Request,
    session: Session,
    staff: StaffContext,
    *,
    profile_id: str,
    error: FormError | None = None,
    values: dict[str, str] | None = None,
    next_url: str | None = None,
    status_code: int = 200,
) -> Response:
    pid = profile_uuid(profile_id)
    try:
        panel = deal_panel(
            session,
            profile_id=pid,
            staff=staff,
            now=utcnow(),
            error=error,
            values=values,
            next_url=next_url,
        )
    except NotFound as error_:
        raise not_found("customer") from error_
    return render(
        request,
        "showroom/today/plan.html",
        {"deal": panel, "today": local_today(utcnow()).isoformat()},
        status_code=status_code,
    )


@router.get("/showroom/customers/{profile_id}/appointments/new", response_class=HTMLResponse)
def plan_form(
    request: Request, session: DbSession, staff: AppointmentsStaff, profile_id: str
) -> Response:
    """Plan a visit, test drive or delivery for a customer (reception uses this page)."""
    person_or_404(request, session, staff, profile_uuid(profile_id))
    return _plan_page(request, session, staff, profile_id=profile_id)


@router.post("/showroom/customers/{profile_id}/appointments", response_class=HTMLResponse)
def plan(
    request: Request,
    session: DbSession,
    staff: AppointmentsPoster,
    profile_id: str,
    kind: Short = "",
    starts_date: Short = "",
    starts_time: Short = "",
    user_id: Short = "",
    model: Short = "",
    note: Text = "",
    next: Short = "",
) -> Response:
    pid = profile_uuid(profile_id)
    person_or_404(request, session, staff, pid)
    values = {
        "kind": kind,
        "starts_date": starts_date,
        "starts_time": starts_time,
        "user_id": user_id,
        "model": model,
        "note": note,
    }
    destination = safe_next(next, customer_url(pid))
    try:
        appointment_service.create_appointment(
            session,
            profile_id=pid,
            kind=kind,
            starts_at=parse_local_datetime(
                starts_date,
                starts_time,
                field_name="starts_at",
                default_time=lead_checks.DEFAULT_VISIT_TIME,
            ),
            user_id=parse_id(user_id, field_name="user_id", what="who receives them"),
            created_by_user_id=staff.user_id,
            model=model,
            note=note,
            scope=staff.scope,
        )
    except NotFound as error:
        raise not_found("customer") from error
    except CdpError as error:
        session.rollback()
        return _plan_page(
            request,
            session,
            staff,
            profile_id=profile_id,
            error=FormError(form="appointment", message=error.message, field=error.field),
            values=values,
            next_url=destination,
            status_code=error.status_code,
        )
    return redirect(request, destination)


def _confirm_cancel(
    request: Request, session: Session, appointment_id: int, next: str, destination: str
) -> Response:
    """Checked and valid; the change is taken back until the cancellation is confirmed."""
    session.rollback()
    appointment = appointment_service.get_appointment(session, appointment_id)
    kind = OPTIONS.label("kind", appointment.kind)
    name = appointment_service.customer_name(session, appointment) or "the customer"
    when = to_local(appointment.starts_at).strftime("%a %d-%m-%Y %H:%M")
    return confirm_step(
        request,
        question=f"Cancel the {kind.lower()}?",
        details=[
            f"{kind} with {name} on {when}.",
            "It leaves the visitor list; plan a new one if they want to come another time.",
        ],
        action=f"/showroom/appointments/{appointment_id}/status",
        fields={"status": "cancelled", "next": next},
        yes=f"Cancel the {kind.lower()}",
        back_url=destination,
        back_label="No, keep it",
    )


@router.post("/showroom/appointments/{appointment_id}/status", response_class=HTMLResponse)
def set_status(
    request: Request,
    session: DbSession,
    staff: AppointmentsPoster,
    appointment_id: str,
    status: Short = "",
    next: Short = "",
    confirm: Short = "",
) -> Response:
    """Arrived, no show or cancelled: one tap on the visitor list or the customer page (a
    cancellation asks once first)."""
    destination = safe_next(next, "/showroom/today")
    try:
        appointment = appointment_service.get_appointment(
            session, id_or_404(appointment_id, "appointment")
        )
    except NotFound as error:
        raise not_found("appointment") from error
    if not staff.scope.sees(appointment.dealer_id):
        raise not_found("appointment")
    try:
        appointment_service.set_appointment_status(
            session, appointment=appointment, status=status, by_user_id=staff.user_id
        )
        if status == "cancelled" and confirm != "yes":
            return _confirm_cancel(request, session, appointment.id, next, destination)
    except CdpError as error:
        session.rollback()
        return _today_page(
            request,
            session,
            staff,
            mine=False,
            error=FormError(
                form="status",
                message=error.message,
                field=error.field,
                target_id=appointment.id,
            ),
            status_code=error.status_code,
        )
    kind = OPTIONS.label("kind", appointment.kind)
    name = appointment_service.customer_name(session, appointment) or "the customer"
    when = to_local(appointment.starts_at).strftime("%d-%m-%Y %H:%M")
    said = {
        "cancelled": "cancelled",
        "no_show": "marked no show",
        "showed": "marked arrived",
        "planned": "back to planned",
    }
    done = f"{kind} with {name} on {when} {said.get(status, 'changed')}."
    return redirect(request, destination, done=done)
