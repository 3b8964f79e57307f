"""What every tablet page shares: who may use the tablet, its addresses, loading the session and
the bar every session screen shows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.errors import CdpError
from cdp.models import TabletSession
from cdp.tablet import service as svc
from cdp.web import CsrfStaff, render, require

tablet_permission = require(Permission.TABLET)


TabletStaff = Annotated[StaffContext, Depends(tablet_permission)]


async def tablet_csrf(staff: CsrfStaff) -> StaffContext:
    return await tablet_permission(staff)


TabletCsrf = Annotated[StaffContext, Depends(tablet_csrf)]


Q = Annotated[str, Query(max_length=200)]


Text = Annotated[str, Form()]


BASE = "/showroom/tablet"


def tablet_url(tablet: TabletSession, page: str = "") -> str:
    return f"{BASE}/{tablet.id}" + (f"/{page}" if page else "")


def error_page(request: Request, error: CdpError) -> HTMLResponse:
    return render(
        request,
        "showroom/tablet/error.html",
        {"message": error.message, "status": error.status_code},
        status_code=error.status_code,
    )


def load_tablet(
    request: Request, session: DbSession, staff: StaffContext, session_id: int, *, change: bool
) -> TabletSession | HTMLResponse:
    try:
        return svc.get_session(
            session, session_id, user_id=staff.user_id, for_change=change, scope=staff.scope
        )
    except CdpError as error:
        return error_page(request, error)


def frame(session: DbSession, tablet: TabletSession) -> dict[str, Any]:
    """What every session screen shows in its bar: whose session, for whom."""
    return {
        "tablet": tablet,
        "customer_id": svc.live_profile_id(session, tablet),
        "customer_name": svc.customer_label(session, tablet.profile_id),
    }
