"""The showroom floor: reception checks arrivals in (an appointment arrived, a walk-in, a
be-back), hands each to the customer's own salesperson or the one who is up, and ends visits;
who is on the floor now, today's visits, and the show rate per day."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.config import Settings
from cdp.dealers.visibility import people_filter
from cdp.deps import DbSession, SettingsDep
from cdp.errors import CdpError, NotFound
from cdp.floor import service as floor
from cdp.floor import show_rate
from cdp.floor.schemas import Arrival
from cdp.forms import FormError, parse_id
from cdp.ids import row_id
from cdp.local_time import local_today, to_local
from cdp.models import Dealer, ShowroomVisit, utcnow
from cdp.profiles.lookup import lookup
from cdp.web import (
    Short,
    Text,
    confirm_step,
    id_or_404,
    not_found,
    posting,
    redirect,
    render,
    require,
)

router = APIRouter(include_in_schema=False)

FloorStaff = Annotated[StaffContext, Depends(require(Permission.APPOINTMENTS))]
FloorPoster = Annotated[StaffContext, Depends(posting(Permission.APPOINTMENTS))]
Q = Annotated[str, Query(max_length=400)]
SEARCH_RESULTS = 10
OUTCOME_LABELS = {
    "follow_up": "Follow up",
    "test_drive": "Test drive taken",
    "quote": "Quote given",
    "sold": "Sold",
    "just_looking": "Just looking",
    "other": "Other",
}
KIND_LABELS = {"appointment": "Appointment", "walk_in": "Walk-in", "be_back": "Be-back"}


def _dealer(session: Session, staff: StaffContext, raw: str) -> Dealer:
    """The floor asked for by `?dealer=ID` (none: the caller's first dealer), or a 404."""
    wanted = row_id(raw.strip()) if raw.strip() else None
    if raw.strip() and wanted is None:
        raise not_found("dealer")
    try:
        return floor.dealer_of_floor(session, staff.scope, wanted)
    except NotFound as error:
        raise not_found("dealer") from error


def floor_url(dealer: Dealer, **extra: str | int) -> str:
    query = "&".join(f"{key}={value}" for key, value in {"dealer": dealer.id, **extra}.items())
    return f"/showroom/floor?{query}"


def _floor_page(
    request: Request,
    session: Session,
    staff: StaffContext,
    dealer: Dealer,
    *,
    error: FormError | None = None,
    values: dict[str, str] | None = None,
    search: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    now = utcnow()
    figures = show_rate.daily_figures(session, dealer_id=dealer.id, now=now)
    notice_visit = row_id(request.query_params.get("visit", "")) or 0
    return render(
        request,
        "showroom/floor/page.html",
        {
            "dealer": dealer,
            "dealers": floor.floor_dealers(session, staff.scope),
            "expected": floor.expected_today(session, dealer_id=dealer.id, now=now),
            "on_floor": floor.on_the_floor(session, dealer_id=dealer.id, now=now),
            "today_visits": floor.visits_today(session, dealer_id=dealer.id, now=now),
            "figures": figures,
            "scale": show_rate.busiest(figures),
            "day_label": show_rate.day_label,
            "today": local_today(now),
            "notice": request.query_params.get("done", ""),
            "notice_visit": notice_visit,
            "outcomes": OUTCOME_LABELS,
            "kinds": KIND_LABELS,
            "to_local": to_local,
            "error": error,
            "values": values or {},
            **(search or {"found": None, "q": "", "linking": None}),
        },
        status_code=status_code,
    )


@router.get("/showroom/floor", response_class=HTMLResponse)
def floor_page(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    staff: FloorStaff,
    dealer: Q = "",
    q: Q = "",
    link: Q = "",
) -> Response:
    return _floor_page(
        request,
        session,
        staff,
        _dealer(session, staff, dealer),
        search=_search(session, settings, staff, q=q, link=link),
    )


@router.get("/showroom/floor/now", response_class=HTMLResponse)
def floor_now(request: Request, session: DbSession, staff: FloorStaff, dealer: Q = "") -> Response:
    """Who is on the floor now: the partial the page refreshes (running times) every 30 s."""
    found = _dealer(session, staff, dealer)
    return render(
        request,
        "showroom/floor/_now.html",
        {
            "dealer": found,
            "on_floor": floor.on_the_floor(session, dealer_id=found.id, now=utcnow()),
            "outcomes": OUTCOME_LABELS,
            "kinds": KIND_LABELS,
            "to_local": to_local,
            "error": None,
            "values": {},
            "notice_visit": 0,
        },
    )


@router.get("/showroom/floor/search", response_class=HTMLResponse)
def floor_search(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    staff: FloorStaff,
    dealer: Q = "",
    q: Q = "",
    link: Q = "",
) -> Response:
    """Known customers as reception types: each checked in as a be-back or walk-in, or (with
    `link`, a visit) named as the anonymous walk-in of that visit."""
    found_dealer = _dealer(session, staff, dealer)
    return render(
        request,
        "showroom/floor/_search.html",
        {"dealer": found_dealer, **_search(session, settings, staff, q=q, link=link)},
    )


def _search(
    session: Session, settings: Settings, staff: StaffContext, *, q: str, link: str
) -> dict[str, object]:
    linking = _visit(session, staff, link) if link.strip() else None
    found = (
        lookup(
            session,
            q,
            phone_region=settings.default_phone_region,
            limit=SEARCH_RESULTS,
            active_at=people_filter(staff.scope, shared=settings.share_customers_across_dealers),
        )
        if q.strip() and staff.can(Permission.LOOKUP)
        else None
    )
    return {"found": found, "q": q, "linking": linking}


def _visit(session: Session, staff: StaffContext, raw: str) -> ShowroomVisit:
    try:
        return floor.visit_in_scope(session, staff.scope, id_or_404(raw, "visit"))
    except NotFound as error:
        raise not_found("visit") from error


def _arrival(
    session: Session,
    dealer: Dealer,
    *,
    kind: str,
    appointment: str,
    profile: str,
    visitor_name: str,
) -> Arrival:
    appointment_id = parse_id(appointment, field_name="appointment_id", what="the appointment")
    profile_id: uuid.UUID | None = None
    if profile.strip():
        try:
            profile_id = uuid.UUID(profile.strip())
        except ValueError:
            raise not_found("customer") from None
    try:
        return floor.arrival(
            session,
            dealer=dealer,
            kind=kind,
            appointment_id=appointment_id,
            profile_id=profile_id,
            visitor_name=visitor_name,
            now=utcnow(),
        )
    except NotFound as error:
        raise not_found("appointment" if error.field == "appointment_id" else "customer") from error


def _check_in_page(
    request: Request,
    session: Session,
    dealer: Dealer,
    arrival: Arrival,
    *,
    chosen: int | None = None,
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    proposal = floor.propose(session, dealer_id=dealer.id, arrival=arrival)
    return render(
        request,
        "showroom/floor/check_in.html",
        {
            "dealer": dealer,
            "arrival": arrival,
            "proposal": proposal,
            "chosen": chosen if chosen is not None else proposal.user_id,
            "own_name": next(
                (c.name for c in proposal.choices if c.user_id == proposal.user_id), None
            ),
            "kinds": KIND_LABELS,
            "to_local": to_local,
            "back_url": floor_url(dealer),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/showroom/floor/check-in", response_class=HTMLResponse)
def check_in_step(
    request: Request,
    session: DbSession,
    staff: FloorStaff,
    dealer: Q = "",
    kind: Q = "",
    appointment: Q = "",
    profile: Q = "",
    visitor_name: Q = "",
) -> Response:
    """Who arrives, and the salesperson proposed for them (reception may choose another)."""
    found = _dealer(session, staff, dealer)
    try:
        arrival = _arrival(
            session,
            found,
            kind=kind,
            appointment=appointment,
            profile=profile,
            visitor_name=visitor_name,
        )
    except CdpError as error:
        return _floor_page(
            request,
            session,
            staff,
            found,
            error=FormError(form=kind or "check_in", message=error.message, field=error.field),
            values={"visitor_name": visitor_name},
            status_code=error.status_code,
        )
    return _check_in_page(request, session, found, arrival)


@router.post("/showroom/floor/visits", response_class=HTMLResponse)
def check_in(
    request: Request,
    session: DbSession,
    staff: FloorPoster,
    dealer: Short = "",
    kind: Short = "",
    appointment: Short = "",
    profile: Short = "",
    visitor_name: Short = "",
    salesperson: Short = "",
) -> Response:
    found = _dealer(session, staff, dealer)
    try:
        arrival = _arrival(
            session,
            found,
            kind=kind,
            appointment=appointment,
            profile=profile,
            visitor_name=visitor_name,
        )
    except CdpError as error:
        session.rollback()
        return _floor_page(
            request,
            session,
            staff,
            found,
            error=FormError(form=kind or "check_in", message=error.message, field=error.field),
            values={"visitor_name": visitor_name},
            status_code=error.status_code,
        )
    chosen: int | None = None
    try:
        chosen = parse_id(salesperson, field_name="salesperson", what="a salesperson")
        visit = floor.check_in(
            session,
            dealer=found,
            arrival=arrival,
            salesperson_user_id=chosen,
            by_user_id=staff.user_id,
        )
    except CdpError as error:
        session.rollback()
        arrival = _arrival(
            session,
            found,
            kind=kind,
            appointment=appointment,
            profile=profile,
            visitor_name=visitor_name,
        )
        return _check_in_page(
            request,
            session,
            found,
            arrival,
            chosen=chosen,
            error=FormError(form="check_in", message=error.message, field=error.field),
            status_code=error.status_code,
        )
    return redirect(request, floor_url(found, done="checked_in", visit=visit.id))


@router.post("/showroom/floor/visits/{visit_id}/end", response_class=HTMLResponse)
def end_visit(
    request: Request,
    session: DbSession,
    staff: FloorPoster,
    visit_id: str,
    outcome: Short = "",
    note: Text = "",
    confirm: Short = "",
) -> Response:
    """End a visit: asks once (who, with whom, how long), then records the end and outcome."""
    visit = _visit(session, staff, visit_id)
    dealer = floor.dealer_of_floor(session, staff.scope, visit.dealer_id)
    now = utcnow()
    try:
        line = floor.visit_line(session, visit, now=now)
        floor.end_visit(
            session, visit=visit, outcome=outcome, note=note, by_user_id=staff.user_id, now=now
        )
    except CdpError as error:
        session.rollback()
        return _floor_page(
            request,
            session,
            staff,
            dealer,
            error=FormError(
                form="end", message=error.message, field=error.field, target_id=visit.id
            ),
            values={"outcome": outcome, "note": note},
            status_code=error.status_code,
        )
    if confirm != "yes":
        session.rollback()
        who = line.name or "the walk-in"
        details = [
            f"{who} with {line.salesperson or 'nobody'}, on the floor since "
            f"{to_local(visit.arrived_at):%H:%M} ({line.minutes} min)."
        ]
        if outcome:
            details.append(f"Outcome: {OUTCOME_LABELS[outcome]}.")
        return confirm_step(
            request,
            question=f"End the visit of {who}?",
            details=[*details, "The visit leaves the floor and its time stops."],
            action=f"/showroom/floor/visits/{visit.id}/end",
            fields={"outcome": outcome, "note": note},
            yes="End the visit",
            back_url=floor_url(dealer),
            back_label="No, they are still here",
        )
    return redirect(request, floor_url(dealer, done="ended", visit=visit.id))


@router.post("/showroom/floor/visits/{visit_id}/lead", response_class=HTMLResponse)
def make_lead(request: Request, session: DbSession, staff: FloorPoster, visit_id: str) -> Response:
    """The visitor becomes a lead (channel walk-in, or be-back) of their salesperson, in one
    step."""
    visit = _visit(session, staff, visit_id)
    dealer = floor.dealer_of_floor(session, staff.scope, visit.dealer_id)
    try:
        floor.make_walk_in_lead(session, visit=visit, by_user_id=staff.user_id)
    except CdpError as error:
        session.rollback()
        return _floor_page(
            request,
            session,
            staff,
            dealer,
            error=FormError(
                form="lead", message=error.message, field=error.field, target_id=visit.id
            ),
            status_code=error.status_code,
        )
    return redirect(request, floor_url(dealer, done="lead", visit=visit.id))


@router.post("/showroom/floor/visits/{visit_id}/customer", response_class=HTMLResponse)
def link_customer(
    request: Request, session: DbSession, staff: FloorPoster, visit_id: str, profile: Short = ""
) -> Response:
    """The anonymous walk-in of this visit is this customer (found by the search)."""
    visit = _visit(session, staff, visit_id)
    dealer = floor.dealer_of_floor(session, staff.scope, visit.dealer_id)
    try:
        profile_id = uuid.UUID(profile.strip())
    except ValueError:
        raise not_found("customer") from None
    try:
        floor.link_customer(session, visit=visit, profile_id=profile_id)
    except NotFound as error:
        raise not_found("customer") from error
    except CdpError as error:
        session.rollback()
        return _floor_page(
            request,
            session,
            staff,
            dealer,
            error=FormError(
                form="link", message=error.message, field=error.field, target_id=visit.id
            ),
            status_code=error.status_code,
        )
    return redirect(request, floor_url(dealer, done="linked", visit=visit.id))
