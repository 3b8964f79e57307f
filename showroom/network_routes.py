"""The network view (/showroom/network): every dealer the manager sees, side by side, for a
period; each column sorts on the server (?sort=leads, ?sort=-leads), so it works without JS."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.dealers.network import DEFAULT_PERIOD, PERIODS, SLA, network_view, sort_key
from cdp.deps import DbSession
from cdp.models import utcnow
from cdp.web import render, require

router = APIRouter(include_in_schema=False)
NetworkStaff = Annotated[StaffContext, Depends(require(Permission.NETWORK))]

# The columns in the order shown: (sort name, heading, the order a first click sorts in).
COLUMNS = (
    ("dealer", "Dealer", "asc"),
    ("leads", "Leads", "desc"),
    ("unassigned", "Unassigned", "desc"),
    ("first_contact", "Median time to first contact", "asc"),
    ("sla", "Contacted within SLA", "desc"),
    ("show_rate", "Show rate", "desc"),
    ("lead_to_sale", "Lead to sale", "desc"),
)


@router.get("/showroom/network", response_class=HTMLResponse)
def network_page(
    request: Request,
    session: DbSession,
    staff: NetworkStaff,
    period: Annotated[str, Query(max_length=20)] = DEFAULT_PERIOD,
    sort: Annotated[str, Query(max_length=40)] = "dealer",
) -> Response:
    period = period if period in PERIODS else DEFAULT_PERIOD
    column, descending = sort_key(sort)
    view = network_view(session, staff.scope, period=period, now=utcnow(), sort=sort)
    return render(
        request,
        "showroom/network.html",
        {
            "view": view,
            "period": period,
            "periods": PERIODS,
            "columns": COLUMNS,
            "sorted_by": column,
            "descending": descending,
            "sla_minutes": int(SLA.total_seconds() // 60),
            "network_scope": staff.scope.network,
        },
        staff=staff,
    )
