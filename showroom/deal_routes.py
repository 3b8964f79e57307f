"""The lead section of a customer page: new leads, notes, stage changes and next actions, each
posted from the customer page and shown again there (with the problem marked when refused)."""

from __future__ import annotations

from datetime import time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cdp.auth.permissions import Permission
from cdp.deps import DbSession
from cdp.errors import CdpError, InvalidInput, NotFound
from cdp.forms import (
    parse_choice_bool,
    parse_id,
    parse_int,
    parse_local_datetime,
    safe_next,
)
from cdp.leads import notes as note_service
from cdp.leads import repository as leads_repo
from cdp.leads import service
from cdp.leads import stages as lead_stages
from cdp.leads.labels import OPTIONS
from cdp.local_time import to_local
from cdp.models import LEAD_CHANNELS, utcnow
from cdp.web import (
    PageForbidden,
    Short,
    Text,
    audit,
    confirm_step,
    customer_url,
    lead_to_change,
    not_found,
    page_options,
    person_or_404,
    profile_uuid,
    redirect,
    render,
)
from showroom.deal_panel import DealPoster, DealStaff, deal_panel, refuse_on_deal_page

router = APIRouter(include_in_schema=False)


NEXT_ACTION_TIME = time(9, 0)  # a follow-up date without a time


@router.get("/showroom/customers/{profile_id}/deal", response_class=HTMLResponse)
def deal_page(request: Request, session: DbSession, staff: DealStaff, profile_id: str) -> Response:
    """The customer's leads, notes and appointments with every action, on a page of their own."""
    pid = profile_uuid(profile_id)
    person_or_404(request, session, staff, pid)
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
    person_or_404(request, session, staff, pid)
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
        offered = {key for key, _ in page_options(request).channels}
        if channel in LEAD_CHANNELS and channel not in offered:
            raise InvalidInput(
                "This channel is no longer offered for new leads: choose one from the list.",
                field="channel",
            )
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
    audit(session, staff, "lead_edit", pid, f"lead created ({channel[:40]})")
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
    licence_plate: Short = "",
    financing_interest: Short = "",
    competitor: Short = "",
    model_direction: Short = "",
    text: Text = "",
    next: Short = "",
) -> Response:
    pid = profile_uuid(profile_id)
    person_or_404(request, session, staff, pid)
    values = {
        "interest_level": interest_level,
        "budget_band": budget_band,
        "timeframe": timeframe,
        "trade_in_make": trade_in_make,
        "trade_in_model": trade_in_model,
        "trade_in_year": trade_in_year,
        "trade_in_km": trade_in_km,
        "licence_plate": licence_plate,
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
            licence_plate=licence_plate,
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
    audit(session, staff, "note", pid, "note added")
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
    confirm: Short = "",
) -> Response:
    lead = lead_to_change(session, lead_id, staff)
    values = {"stage": stage, "lost_reason": lost_reason, "lost_detail": lost_detail}
    destination = safe_next(next, customer_url(lead.profile_id))
    profile_id = lead.profile_id
    what = f"{page_options(request).label('channel', lead.channel)} lead" + (
        f" for the {lead.model}" if lead.model else ""
    )
    try:
        lead_stages.change_stage(
            session,
            lead=lead,
            to_stage=stage,
            lost_reason=lost_reason or None,
            lost_detail=lost_detail,
            by_user_id=staff.user_id,
        )
        if stage == "lost" and confirm != "yes":
            # Checked and valid, but lost closes the lead: ask once before it counts.
            session.rollback()
            # The label without its hint for the form ("bought elsewhere (say which ...)").
            reason = OPTIONS.label("lost_reason", lost_reason).split(" (")[0]
            name = leads_repo.profile_names(session, {profile_id}).get(profile_id)
            return confirm_step(
                request,
                question=f"Mark the lead of {name} lost?" if name else "Mark this lead lost?",
                details=[
                    f"The {what} closes as lost: {reason.lower()}"
                    + (f" ({lost_detail.strip()})." if lost_detail.strip() else "."),
                    "It leaves the open leads and follow-ups; its history keeps every step.",
                ],
                action=f"/showroom/leads/{lead_id}/stage",
                fields={**values, "next": next},
                yes="Mark lost",
                back_url=destination,
                back_label="No, keep the lead open",
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
    audit(session, staff, "lead_edit", profile_id, f"lead {lead.id}: stage {stage[:30]}")
    name = leads_repo.profile_names(session, {profile_id}).get(profile_id) or "the customer"
    done = (
        f"The {what} of {name} was marked lost."
        if stage == "lost"
        else f"The {what} of {name} is now {OPTIONS.label('stage', stage).lower()}."
    )
    return redirect(request, destination, done=done)


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
    lead = lead_to_change(session, lead_id, staff)
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
    audit(session, staff, "lead_edit", profile_id, f"lead {lead.id}: next action")
    name = leads_repo.profile_names(session, {profile_id}).get(profile_id) or "the customer"
    if done:
        said = f"Next action for {name} done."
    elif lead.next_action_at is not None:
        due = to_local(lead.next_action_at).strftime("%d-%m-%Y %H:%M")
        said = f"Next action for {name}: {next_action.strip()[:100]}, by {due}."
    else:
        said = f"Next action for {name}: {next_action.strip()[:100]}."
    return redirect(request, destination, done=said)
