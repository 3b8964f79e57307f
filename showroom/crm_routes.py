"""The delivery log of leads sent to dealers' own CRMs as ADF, for dealer managers: what reached
the CRM, what is being retried, and sending one again (docs/adf.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from cdp.adf import repository
from cdp.adf.delivery import send_again
from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.models import utcnow
from cdp.web import id_or_404, not_found, posting, redirect, render, require

router = APIRouter(include_in_schema=False)
ManagerStaff = Annotated[StaffContext, Depends(require(Permission.LEADS_ALL))]
ManagerPosting = Annotated[StaffContext, Depends(posting(Permission.LEADS_ALL))]
PER_PAGE = 50
STATUSES = {"pending": "Waiting to be sent", "delivered": "Delivered", "failed": "Given up"}


@router.get("/showroom/crm-deliveries", response_class=HTMLResponse)
def crm_deliveries(
    request: Request,
    session: DbSession,
    staff: ManagerStaff,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    sent: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    total, rows = repository.delivery_page(session, staff.scope, page=page, per_page=PER_PAGE)
    return render(
        request,
        "showroom/crm/deliveries.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PER_PAGE)),
            "statuses": STATUSES,
            "dealers": repository.dealers_in_scope(session, staff.scope),
            "flash": "It will be sent within a minute." if sent else "",
        },
    )


@router.post("/showroom/crm-deliveries/{delivery_id}/again")
def crm_send_again(
    request: Request, delivery_id: str, session: DbSession, staff: ManagerPosting
) -> Response:
    delivery = repository.delivery_in_scope(
        session, staff.scope, id_or_404(delivery_id, "delivery")
    )
    if delivery is None:
        raise not_found("delivery")
    if delivery.status != "delivered":
        send_again(session, delivery, now=utcnow())
    return redirect(request, "/showroom/crm-deliveries?sent=1")
