"""Lead follow-up pages: "My leads" and two-tap contact logging. The lead actions on a customer
page are in deal_routes.py.

Every POST carries the session's CSRF token. A refused form is shown again with status 400,
its message next to the field and what was typed kept; the session is rolled back, so nothing
of it is stored.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.errors import CdpError
from cdp.forms import (
    FormError,
    parse_id,
    safe_next,
)
from cdp.ids import row_id, whole_number
from cdp.leads import checks as lead_checks
from cdp.leads import repository as leads_repo
from cdp.leads import service
from cdp.local_time import local_today, to_local
from cdp.models import CONTACT_METHODS, Lead, utcnow
from cdp.web import (
    PageForbidden,
    Short,
    Text,
    audit,
    dealer_choice,
    lead_or_404,
    lead_to_change,
    posting,
    redirect,
    render,
    require,
)
from showroom.deal_panel import DealPoster, DealStaff, refuse_on_deal_page
from showroom.routing_routes import leads_page_extras

router = APIRouter(include_in_schema=False)

LeadsStaff = Annotated[StaffContext, Depends(require(Permission.LEADS))]

MAX_PAGE = 999_999  # ?page= beyond this is not a page anyone reached by paging


LeadsPoster = Annotated[StaffContext, Depends(posting(Permission.LEADS))]


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
    dealer: str = "",
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    scope, salesperson_id, who_value = _scope(staff, who)
    choice = dealer_choice(session, staff, dealer)
    now = utcnow()
    listing = service.my_leads(
        session,
        user_id=staff.user_id,
        now=now,
        scope=scope,
        salesperson_id=salesperson_id,
        page=_page_number(page),
        dealers=choice.scope,
    )
    query = request.url.query
    return render(
        request,
        "showroom/leads/list.html",
        {
            "listing": listing,
            "who": who_value,
            "can_all": staff.can(Permission.LEADS_ALL),
            "assignees": lead_checks.assignees(session, staff.scope)
            if staff.can(Permission.LEADS_ALL)
            else None,
            "local": to_local,
            "next_url": "/showroom/leads" + (f"?{query}" if query else ""),
            "error": error,
            "choice": choice,
            **leads_page_extras(session, staff, now),
        },
        status_code=404 if choice.problem and status_code == 200 else status_code,
    )


@router.get("/showroom/leads", response_class=HTMLResponse)
def leads_list(
    request: Request,
    session: DbSession,
    staff: LeadsStaff,
    who: str = "",
    page: str = "1",
    dealer: str = "",
) -> Response:
    """Open leads, what needs action first: new ones by age, then overdue follow-ups; only the
    caller's dealers' (`dealer`: one of them)."""
    return _leads_page(request, session, staff, who=who[:20], page=page[:10], dealer=dealer[:40])


@router.post("/showroom/leads/{lead_id}/assign", response_class=HTMLResponse)
def assign(
    request: Request,
    session: DbSession,
    staff: LeadsPoster,
    lead_id: str,
    assigned_user_id: Short = "",
    reason: Text = "",
    next: Short = "",
) -> Response:
    """Managers give a lead to anyone (from someone else: with a reason); a salesperson takes
    an unassigned lead of their dealer."""
    lead = lead_or_404(session, lead_id, staff.scope, for_update=True)
    destination = safe_next(next, "/showroom/leads")
    try:
        user_id = parse_id(assigned_user_id, field_name="assigned_user_id", what="a salesperson")
        if not staff.can(Permission.LEADS_ALL) and (
            user_id != staff.user_id or lead.assigned_user_id is not None
        ):
            raise PageForbidden("Only sales managers assign leads; you can take unassigned ones.")
        service.assign_lead(
            session, lead=lead, user_id=user_id, by_user_id=staff.user_id, reason=reason
        )
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
                values={"assigned_user_id": assigned_user_id, "reason": reason},
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
    audit(session, staff, "lead_edit", lead.profile_id, f"lead {lead.id}: assigned")
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
    lead = lead_to_change(session, lead_id, staff, for_update=False)
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
    """Tap two: the outcome. A new lead moves to attempted or reached; an unassigned one
    becomes the caller's."""
    lead = lead_to_change(session, lead_id, staff)
    next_url = safe_next(next, "/showroom/leads")
    try:
        attempt = service.log_contact_attempt(
            session,
            lead=lead,
            method=method,
            outcome=outcome,
            note=note,
            by_user_id=staff.user_id,
        )
    except CdpError as error:
        session.rollback()
        lead = lead_or_404(session, lead_id, staff.scope)
        return _contact(
            request,
            lead,
            method=method if method in CONTACT_METHODS else "",
            next_url=next_url,
            error=error.message,
            status_code=error.status_code,
        )
    audit(session, staff, "lead_edit", lead.profile_id, f"lead {lead.id}: contact {method}")
    return redirect(
        request,
        f"/showroom/leads/{lead.id}/contact/logged?attempt={attempt.id}&next={quote(next_url)}",
    )


@router.get("/showroom/leads/{lead_id}/contact/logged", response_class=HTMLResponse)
def contact_logged(
    request: Request,
    session: DbSession,
    staff: DealStaff,
    lead_id: str,
    attempt: Annotated[str, Query(max_length=20)] = "",
    next: Annotated[str, Query(max_length=400)] = "",
) -> Response:
    """After a contact is logged: say what was recorded, and ask for the next action (a plain
    form, prefilled with what usually comes next; skipping it is a link back)."""
    lead = lead_or_404(session, lead_id, staff.scope)
    next_url = safe_next(next, "/showroom/leads")
    attempt_id = row_id(attempt)
    logged = (
        service.logged_attempt(session, lead=lead, attempt_id=attempt_id)
        if attempt_id is not None
        else None
    )
    if logged is None:
        return Response(status_code=303, headers={"Location": next_url})
    tomorrow = local_today(utcnow()) + timedelta(days=1)
    return render(
        request,
        "showroom/leads/logged.html",
        {
            "lead": lead,
            "customer_name": leads_repo.profile_names(session, {lead.profile_id}).get(
                lead.profile_id
            ),
            "attempt": logged,
            "at": to_local(logged.attempted_at),
            "next_url": next_url,
            "suggested": lead.next_action or service.suggested_next_action(logged),
            "suggested_date": (
                to_local(lead.next_action_at).date() if lead.next_action_at else tomorrow
            ),
        },
    )
