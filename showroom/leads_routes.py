"""Lead follow-up pages: "My leads", two-tap contact logging, and the lead actions, notes and
new leads on a customer page.

Every POST carries the session's CSRF token. A refused form is shown again with status 400,
its message next to the field and what was typed kept; the session is rolled back, so nothing
of it is stored.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.errors import CdpError, InvalidInput, NotFound
from cdp.forms import (
    FormError,
    parse_choice_bool,
    parse_id,
    parse_int,
    parse_local_datetime,
    safe_next,
)
from cdp.ids import row_id, whole_number
from cdp.leads import checks as lead_checks
from cdp.leads import notes as note_service
from cdp.leads import repository as leads_repo
from cdp.leads import service
from cdp.leads import stages as lead_stages
from cdp.leads.labels import OPTIONS
from cdp.leads.schemas import DealPanel, LeadPanel
from cdp.local_time import to_local
from cdp.models import CONTACT_METHODS, OPEN_STAGES, Lead, utcnow
from cdp.profiles import repository as profiles_repo
from cdp.profiles.service import display_name
from cdp.web import (
    PageForbidden,
    customer_url,
    id_or_404,
    not_found,
    posting,
    profile_uuid,
    redirect,
    render,
    require,
)

router = APIRouter(include_in_schema=False)

LeadsStaff = Annotated[StaffContext, Depends(require(Permission.LEADS))]
DealStaff = Annotated[StaffContext, Depends(require(Permission.CUSTOMER_DEAL))]
Text = Annotated[str, Form(max_length=5000)]
Short = Annotated[str, Form(max_length=400)]

NEXT_ACTION_TIME = time(9, 0)  # a follow-up date without a time
MAX_PAGE = 999_999  # ?page= beyond this is not a page anyone reached by paging


DealPoster = Annotated[StaffContext, Depends(posting(Permission.CUSTOMER_DEAL))]
LeadsPoster = Annotated[StaffContext, Depends(posting(Permission.LEADS))]


def lead_or_404(session: Session, lead_id: str, *, for_update: bool = False) -> Lead:
    try:
        return service.get_lead(session, id_or_404(lead_id, "lead"), for_update=for_update)
    except NotFound as error:
        raise not_found("lead") from error


# --- the customer page's lead section -------------------------------------------------------
def deal_panel(
    session: Session,
    *,
    profile_id: uuid.UUID,
    staff: StaffContext,
    now: datetime,
    error: FormError | None = None,
    values: dict[str, str] | None = None,
    next_url: str | None = None,
) -> DealPanel:
    """What the lead actions on a customer page need; raises NotFound for an unknown profile.

    The customer page passes this as `deal` to templates/showroom/customer/_deal.html.
    """
    profile = profiles_repo.live_profile(session, profile_id)
    if profile is None:
        raise NotFound("There is no customer with this link.", field="profile_id")
    ids = [profile.id, *profiles_repo.absorbed_ids(session, profile.id)]
    leads = sorted(
        leads_repo.leads_of(session, ids), key=lambda lead: lead.stage not in OPEN_STAGES
    )
    can_deal = staff.can(Permission.CUSTOMER_DEAL)
    notes = list(leads_repo.notes_of(session, ids)) if can_deal else []
    upcoming = sorted(
        (
            (a, to_local(a.starts_at))
            for a in leads_repo.appointments_of(session, ids)
            if a.status == "planned" and a.starts_at >= now - lead_checks.PAST_SLACK
        ),
        key=lambda pair: pair[0].starts_at,
    )
    names = leads_repo.staff_names(
        session,
        {lead.assigned_user_id for lead in leads if lead.assigned_user_id}
        | {note.user_id for note in notes if note.user_id}
        | {a.user_id for a, _ in upcoming if a.user_id},
    )
    configurations = leads_repo.latest_configurations(session, [profile.id])
    latest = configurations.get(profile.id)
    name = leads_repo.profile_names(session, [profile.id]).get(profile.id)
    if name is None:
        name = display_name({t.name: t.value for t in profiles_repo.traits(session, [profile.id])})
    people = lead_checks.hosts(session) if staff.can(Permission.APPOINTMENTS) else []
    return DealPanel(
        profile_id=profile.id,
        name=name,
        leads=[
            LeadPanel(
                lead=lead,
                transitions=lead_stages.allowed_stages(lead.stage),
                salesperson=names.get(lead.assigned_user_id or 0),
                is_open=lead.stage in OPEN_STAGES,
            )
            for lead in leads
        ]
        if can_deal
        else [],
        default_model=(latest.model if latest else None)
        or next((lead.model for lead in leads if lead.model), None),
        upcoming=upcoming,
        notes=notes,
        names=names,
        salespeople=lead_checks.salespeople(session) if staff.can(Permission.LEADS_ALL) else [],
        people=people,
        default_person=staff.user_id if any(pid == staff.user_id for pid, _ in people) else None,
        can_deal=can_deal,
        can_assign=staff.can(Permission.LEADS_ALL),
        can_plan=staff.can(Permission.APPOINTMENTS),
        next_url=next_url or customer_url(profile.id),
        error=error,
        values=values or {},
    )


def refuse_on_deal_page(
    request: Request,
    session: Session,
    staff: StaffContext,
    *,
    profile_id: uuid.UUID,
    error: CdpError,
    form: str,
    values: dict[str, str],
    target_id: int | None = None,
    next_url: str | None = None,
) -> Response:
    """Roll back whatever the refused request did, and show its form again with the reason."""
    session.rollback()
    panel = deal_panel(
        session,
        profile_id=profile_id,
        staff=staff,
        now=utcnow(),
        error=FormError(form=form, message=error.message, field=error.field, target_id=target_id),
        values=values,
        next_url=next_url,
    )
    return render(
        request, "showroom/leads/deal.html", {"deal": panel}, status_code=error.status_code
    )


@router.get("/showroom/customers/{profile_id}/deal", response_class=HTMLResponse)
def deal_page(request: Request, session: DbSession, staff: DealStaff, profile_id: str) -> Response:
    """The customer's leads, notes and appointments with every action, on a page of their own."""
    pid = profile_uuid(profile_id)
    try:
        panel = deal_panel(session, profile_id=pid, staff=staff, now=utcnow())
    except NotFound as error:
        raise not_found("customer") from error
    return render(request, "showroom/leads/deal.html", {"deal": panel})


@router.post("/showroom/customers/{profile_id}/leads", response_class=HTMLResponse)
def create_lead(
    request: Request,
    session: DbSession,
    staff: DealPoster,
    profile_id: str,
    channel: Short = "",
    model: Short = "",
    assigned_user_id: Short = "",
    next: Short = "",
) -> Response:
    pid = profile_uuid(profile_id)
    values = {"channel": channel, "model": model, "assigned_user_id": assigned_user_id}
    destination = safe_next(next, customer_url(pid))
    try:
        assignee: int | None = None
        if assigned_user_id.strip() != "none":  # "none": into the unassigned pool
            assignee = parse_id(
                assigned_user_id, field_name="assigned_user_id", what="a salesperson"
            )
            if assignee is None and staff.can(Permission.LEADS):
                assignee = staff.user_id  # whoever enters a lead works it, unless told otherwise
            elif assignee not in (None, staff.user_id) and not staff.can(Permission.LEADS_ALL):
                raise PageForbidden("Only sales managers give leads to someone else.")
        service.create_lead(
            session,
            profile_id=pid,
            channel=channel,
            model=model,
            assigned_user_id=assignee,
            created_by_user_id=staff.user_id,
        )
    except NotFound as error:
        raise not_found("customer") from error
    except CdpError as error:
        return refuse_on_deal_page(
            request,
            session,
            staff,
            profile_id=pid,
            error=error,
            form="lead",
            values=values,
            next_url=destination,
        )
    return redirect(request, destination)


@router.post("/showroom/customers/{profile_id}/notes", response_class=HTMLResponse)
def add_note(
    request: Request,
    session: DbSession,
    staff: DealPoster,
    profile_id: str,
    interest_level: Short = "",
    budget_band: Short = "",
    timeframe: Short = "",
    trade_in_make: Short = "",
    trade_in_model: Short = "",
    trade_in_year: Short = "",
    trade_in_km: Short = "",
    financing_interest: Short = "",
    competitor: Short = "",
    model_direction: Short = "",
    text: Text = "",
    next: Short = "",
) -> Response:
    pid = profile_uuid(profile_id)
    values = {
        "interest_level": interest_level,
        "budget_band": budget_band,
        "timeframe": timeframe,
        "trade_in_make": trade_in_make,
        "trade_in_model": trade_in_model,
        "trade_in_year": trade_in_year,
        "trade_in_km": trade_in_km,
        "financing_interest": financing_interest,
        "competitor": competitor,
        "model_direction": model_direction,
        "text": text,
    }
    destination = safe_next(next, customer_url(pid))
    now = utcnow()
    try:
        note_service.add_note(
            session,
            profile_id=pid,
            user_id=staff.user_id,
            interest_level=interest_level,
            budget_band=budget_band,
            timeframe=timeframe,
            trade_in_make=trade_in_make,
            trade_in_model=trade_in_model,
            trade_in_year=parse_int(
                trade_in_year,
                field_name="trade_in_year",
                label="The trade-in year",
                low=1950,
                high=now.year + 1,
            ),
            trade_in_km=parse_int(
                trade_in_km,
                field_name="trade_in_km",
                label="The mileage",
                low=0,
                high=2_000_000,
            ),
            financing_interest=parse_choice_bool(
                financing_interest, field_name="financing_interest"
            ),
            competitor=competitor,
            model_direction=model_direction,
            text=text,
            now=now,
        )
    except NotFound as error:
        raise not_found("customer") from error
    except CdpError as error:
        return refuse_on_deal_page(
            request,
            session,
            staff,
            profile_id=pid,
            error=error,
            form="note",
            values=values,
            next_url=destination,
        )
    return redirect(request, destination)


@router.post("/showroom/leads/{lead_id}/stage", response_class=HTMLResponse)
def change_stage(
    request: Request,
    session: DbSession,
    staff: DealPoster,
    lead_id: str,
    stage: Short = "",
    lost_reason: Short = "",
    lost_detail: Text = "",
    next: Short = "",
) -> Response:
    lead = lead_or_404(session, lead_id, for_update=True)
    values = {"stage": stage, "lost_reason": lost_reason, "lost_detail": lost_detail}
    destination = safe_next(next, customer_url(lead.profile_id))
    profile_id = lead.profile_id
    try:
        lead_stages.change_stage(
            session,
            lead=lead,
            to_stage=stage,
            lost_reason=lost_reason or None,
            lost_detail=lost_detail,
            by_user_id=staff.user_id,
        )
    except CdpError as error:
        return refuse_on_deal_page(
            request,
            session,
            staff,
            profile_id=profile_id,
            error=error,
            form="stage",
            values=values,
            target_id=lead.id,
            next_url=destination,
        )
    return redirect(request, destination)


@router.post("/showroom/leads/{lead_id}/next-action", response_class=HTMLResponse)
def set_next_action(
    request: Request,
    session: DbSession,
    staff: DealPoster,
    lead_id: str,
    next_action: Short = "",
    next_action_date: Short = "",
    next_action_time: Short = "",
    done: Short = "",
    next: Short = "",
) -> Response:
    lead = lead_or_404(session, lead_id, for_update=True)
    values = {
        "next_action": next_action,
        "next_action_date": next_action_date,
        "next_action_time": next_action_time,
    }
    destination = safe_next(next, customer_url(lead.profile_id))
    profile_id = lead.profile_id
    try:
        if done:
            service.set_next_action(session, lead=lead, action=None, due_at=None)
        else:
            due_at = parse_local_datetime(
                next_action_date,
                next_action_time,
                field_name="next_action_at",
                default_time=NEXT_ACTION_TIME,
            )
            if not next_action.strip():
                raise InvalidInput("Say what the next action is.", field="next_action")
            service.set_next_action(session, lead=lead, action=next_action, due_at=due_at)
    except CdpError as error:
        return refuse_on_deal_page(
            request,
            session,
            staff,
            profile_id=profile_id,
            error=error,
            form="next",
            values=values,
            target_id=lead.id,
            next_url=destination,
        )
    return redirect(request, destination)


# --- my leads ---------------------------------------------------------------------------------
def _scope(staff: StaffContext, who: str) -> tuple[str, int | None, str]:
    """(scope, salesperson id, the filter's value) for ?who=; managers may look wider."""
    everyone = staff.can(Permission.LEADS_ALL)
    who = who.strip()
    if who in ("mine", "unassigned"):
        return who, None, who
    if who == "all" or (not who and everyone):
        if not everyone:
            raise PageForbidden("Only sales managers see everyone's leads.")
        return "all", None, "all"
    someone = row_id(who)
    if someone is not None:
        if someone == staff.user_id:
            return "mine", None, "mine"
        if not everyone:
            raise PageForbidden("Only sales managers see other people's leads.")
        return "user", someone, who
    return "mine", None, "mine"


def _page_number(raw: str) -> int:
    number = whole_number(raw, most=MAX_PAGE)
    return 1 if number is None else number


def _leads_page(
    request: Request,
    session: Session,
    staff: StaffContext,
    *,
    who: str,
    page: str,
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    scope, salesperson_id, who_value = _scope(staff, who)
    listing = service.my_leads(
        session,
        user_id=staff.user_id,
        now=utcnow(),
        scope=scope,
        salesperson_id=salesperson_id,
        page=_page_number(page),
    )
    query = request.url.query
    return render(
        request,
        "showroom/leads/list.html",
        {
            "listing": listing,
            "who": who_value,
            "can_all": staff.can(Permission.LEADS_ALL),
            "salespeople": lead_checks.salespeople(session)
            if staff.can(Permission.LEADS_ALL)
            else [],
            "options": OPTIONS,
            "local": to_local,
            "next_url": "/showroom/leads" + (f"?{query}" if query else ""),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/showroom/leads", response_class=HTMLResponse)
def leads_list(
    request: Request, session: DbSession, staff: LeadsStaff, who: str = "", page: str = "1"
) -> Response:
    """Open leads, what needs action first: new ones by age, then overdue follow-ups."""
    return _leads_page(request, session, staff, who=who[:20], page=page[:10])


@router.post("/showroom/leads/{lead_id}/assign", response_class=HTMLResponse)
def assign(
    request: Request,
    session: DbSession,
    staff: LeadsPoster,
    lead_id: str,
    assigned_user_id: Short = "",
    next: Short = "",
) -> Response:
    """Managers give a lead to anyone; a salesperson takes an unassigned lead."""
    lead = lead_or_404(session, lead_id, for_update=True)
    destination = safe_next(next, "/showroom/leads")
    try:
        user_id = parse_id(assigned_user_id, field_name="assigned_user_id", what="a salesperson")
        if not staff.can(Permission.LEADS_ALL) and (
            user_id != staff.user_id or lead.assigned_user_id is not None
        ):
            raise PageForbidden("Only sales managers assign leads; you can take unassigned ones.")
        service.assign_lead(session, lead=lead, user_id=user_id)
    except CdpError as error:
        session.rollback()
        form_error = FormError(
            form="assign", message=error.message, field=error.field, target_id=lead.id
        )
        if destination.startswith("/showroom/customers/"):
            return refuse_on_deal_page(
                request,
                session,
                staff,
                profile_id=lead.profile_id,
                error=error,
                form="assign",
                values={"assigned_user_id": assigned_user_id},
                target_id=lead.id,
                next_url=destination,
            )
        return _leads_page(
            request,
            session,
            staff,
            who=request.query_params.get("who", ""),
            page="1",
            error=form_error,
            status_code=400,
        )
    return redirect(request, destination)


# --- two-tap contact logging ----------------------------------------------------------------
def _contact(
    request: Request,
    lead: Lead,
    *,
    method: str,
    next_url: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "showroom/leads/contact.html",
        {
            "lead": lead,
            "method": method,
            "next_url": next_url,
            "error": error,
            "options": OPTIONS,
        },
        status_code=status_code,
    )


@router.get("/showroom/leads/{lead_id}/contact", response_class=HTMLResponse)
def contact_step(
    request: Request,
    session: DbSession,
    staff: DealStaff,
    lead_id: str,
    method: str = "",
    next: str = "",
) -> Response:
    """Tap one: the method. Without one, the method buttons; with one, its outcome buttons."""
    lead = lead_or_404(session, lead_id)
    next_url = safe_next(next[:400], "/showroom/leads")
    if method and method not in CONTACT_METHODS:
        return _contact(
            request,
            lead,
            method="",
            next_url=next_url,
            status_code=400,
            error="Choose how you contacted them: call, e-mail, WhatsApp or SMS.",
        )
    return _contact(request, lead, method=method, next_url=next_url)


@router.post("/showroom/leads/{lead_id}/contact", response_class=HTMLResponse)
def log_contact(
    request: Request,
    session: DbSession,
    staff: DealPoster,
    lead_id: str,
    method: Short = "",
    outcome: Short = "",
    note: Text = "",
    next: Short = "",
) -> Response:
    """Tap two: the outcome. A new lead moves to attempted or reached."""
    lead = lead_or_404(session, lead_id, for_update=True)
    next_url = safe_next(next, "/showroom/leads")
    try:
        service.log_contact_attempt(
            session,
            lead=lead,
            method=method,
            outcome=outcome,
            note=note,
            by_user_id=staff.user_id,
        )
    except CdpError as error:
        session.rollback()
        lead = lead_or_404(session, lead_id)
        return _contact(
            request,
            lead,
            method=method if method in CONTACT_METHODS else "",
            next_url=next_url,
            error=error.message,
            status_code=error.status_code,
        )
    return redirect(request, next_url)
