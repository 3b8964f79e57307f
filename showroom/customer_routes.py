"""The customer page: who they are, what they configured, what they focused on, what happened."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.consent.history import consent_history
from cdp.deps import DbSession
from cdp.models import utcnow
from cdp.profiles.erasure import erasure_of
from cdp.profiles.repository import live_profile
from cdp.web import PageForbidden, person_or_404, render, require
from segmentation.service import current_segment
from showroom.customer_view import customer_page
from showroom.deal_panel import deal_panel

router = APIRouter(include_in_schema=False)
LookupStaff = Annotated[StaffContext, Depends(require(Permission.LOOKUP))]


@router.get("/showroom/customers/{profile_id}", response_class=HTMLResponse)
def customer(
    request: Request,
    session: DbSession,
    staff: LookupStaff,
    profile_id: str,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """`q` is the search the customer was found with: the page links back to it."""
    try:
        pid: uuid.UUID | None = uuid.UUID(profile_id)
    except ValueError:
        pid = None
    live = live_profile(session, pid) if pid is not None else None
    erased = erasure_of(session, pid) if pid is not None and live is None else None
    if erased is not None:
        raise PageForbidden(
            f"This customer's data was erased on {erased.erased_at:%d-%m-%Y} at their request.",
            status_code=404,
        )
    if pid is None or live is None:
        raise PageForbidden(
            "There is no customer with this link. It may have been mistyped.", status_code=404
        )
    if live.id != pid:  # an absorbed profile: send people to the surviving one, counted there
        back = f"?{urlencode({'q': q})}" if q.strip() else ""
        return Response(
            status_code=308, headers={"Location": f"/showroom/customers/{live.id}{back}"}
        )
    person_or_404(request, session, staff, pid)
    now = utcnow()
    page = customer_page(session, pid, staff=staff, now=now)
    deal = (
        deal_panel(session, profile_id=page.profile.id, staff=staff, now=now)
        if page.show_deal
        else None
    )
    segment = current_segment(session, pid)
    return render(
        request,
        "showroom/customer/detail.html",
        {
            "page": page,
            "deal": deal,
            "segment": segment,
            "search": q.strip(),
            "consent": consent_history(session, pid),
        },
    )
