"""What routing and speed to lead add to the leads page: a salesperson's availability (available,
busy, off: routing gives new leads only to those available), and for managers the leads at
risk of missing their first-contact time, or past it, each with the reassign action."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.errors import InvalidInput
from cdp.forms import safe_next
from cdp.leads import repository as leads_repo
from cdp.leads import sla
from cdp.leads.availability import availability_of, set_availability
from cdp.local_time import to_local
from cdp.web import Short, posting, redirect, render

router = APIRouter(include_in_schema=False)

LeadsPoster = Annotated[StaffContext, Depends(posting(Permission.LEADS))]

BREACH_WINDOW = timedelta(days=30)  # "breaches in the last 30 days" on the manager's page


@dataclass(frozen=True, slots=True)
class AtRiskRow:
    state: sla.SlaState
    salesperson: str | None
    warning_local: datetime
    due_local: datetime


def leads_page_extras(session: Session, staff: StaffContext, now: datetime) -> dict[str, Any]:
    """The leads page's availability switch (staff who work leads) and, for managers, the
    leads at risk and the breaches counted."""
    extras: dict[str, Any] = {"availability": None, "sla": None}
    if staff.can(Permission.LEADS) and not staff.can(Permission.LEADS_ALL):
        extras["availability"] = availability_of(session, staff.user_id)
    if staff.can(Permission.LEADS_ALL):
        states = sla.at_risk(session, now, scope=staff.scope)
        names = leads_repo.staff_names(
            session, {s.lead.assigned_user_id for s in states if s.lead.assigned_user_id}
        )
        extras["sla"] = {
            "rows": [
                AtRiskRow(
                    state=s,
                    salesperson=names.get(s.lead.assigned_user_id or 0),
                    warning_local=to_local(s.warning_at),
                    due_local=to_local(s.due_at),
                )
                for s in states
            ],
            "breaches": sla.breaches_since(session, now - BREACH_WINDOW, scope=staff.scope),
        }
    return extras


@router.post("/showroom/availability", response_class=HTMLResponse)
def change_availability(
    request: Request,
    session: DbSession,
    staff: LeadsPoster,
    availability: Short = "",
    next: Short = "",
) -> Response:
    """A salesperson says whether they take new leads now: available, busy or off."""
    destination = safe_next(next, "/showroom/leads")
    try:
        set_availability(session, staff.user_id, availability)
    except InvalidInput as error:
        session.rollback()
        return render(
            request, "error.html", {"status": 400, "detail": error.message}, status_code=400
        )
    return redirect(request, destination)
