"""The sales manager's view: the lead funnel per channel against the norms, and the plan
calculator (how many leads of each channel a sales target needs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.leads.funnel import ONLINE_FLOOR, STEPS, funnel, period
from cdp.models import utcnow
from cdp.web import dealer_choice, render, require

router = APIRouter(include_in_schema=False)
FunnelStaff = Annotated[StaffContext, Depends(require(Permission.FUNNEL))]
PERIODS = (30, 90, 365)


@router.get("/showroom/funnel", response_class=HTMLResponse)
def funnel_page(
    request: Request,
    session: DbSession,
    staff: FunnelStaff,
    days: Annotated[int, Query(ge=1, le=3650)] = 90,
    cars: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    dealer: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """The funnel of the caller's dealers' leads (`dealer`: one of them)."""
    since, until = period(days, utcnow())
    choice = dealer_choice(session, staff, dealer)
    return render(
        request,
        "showroom/funnel.html",
        {
            "funnel": funnel(session, since=since, until=until, scope=choice.scope),
            "steps": STEPS,
            "days": days,
            "periods": PERIODS,
            "cars": cars,
            "online_floor": ONLINE_FLOOR,
            "choice": choice,
        },
        status_code=404 if choice.problem else 200,
    )
