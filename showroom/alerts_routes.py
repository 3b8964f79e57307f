"""The alert tray in every staff page's header, its page, and the stream that fills it live
(docs/alerts.md). Any signed-in staff member has alerts; each sees only their own, and only of
the dealers in their scope."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from cdp.alerts import service
from cdp.alerts.delivery import AlertHub, Snapshot, StreamEnded, alert_stream
from cdp.alerts.repository import session_still_valid
from cdp.auth.staff import StaffContext, resolve_session
from cdp.deps import DbSession
from cdp.errors import NotFound
from cdp.forms import safe_next
from cdp.ids import MAX_ROW_ID, whole_number
from cdp.models import utcnow
from cdp.web import (
    SESSION_COOKIE,
    CsrfStaff,
    Short,
    Staff,
    customer_url,
    id_or_404,
    is_htmx,
    not_found,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)

TRAY_ITEMS = "showroom/alerts/_tray_items.html"


def _tray(request: Request, session: Session, staff: StaffContext) -> HTMLResponse:
    tray = service.tray(session, user_id=staff.user_id, scope=staff.scope)
    return render(request, TRAY_ITEMS, {"tray": tray}, staff=staff)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    session: DbSession,
    staff: Staff,
    page: Annotated[str, Query(max_length=12)] = "1",
) -> Response:
    listing = service.all_alerts(
        session,
        user_id=staff.user_id,
        scope=staff.scope,
        page=whole_number(page.strip(), most=100_000) or 1,
    )
    tray = service.tray(session, user_id=staff.user_id, scope=staff.scope)
    return render(request, "showroom/alerts/list.html", {"listing": listing, "tray": tray})


@router.get("/alerts/tray", response_class=HTMLResponse)
def tray_items(request: Request, session: DbSession, staff: Staff) -> Response:
    return _tray(request, session, staff)


@router.get("/alerts/{alert_id}/open")
def open_alert(request: Request, session: DbSession, staff: Staff, alert_id: str) -> Response:
    """Opening an alert reads it and goes to its customer (their page, where the lead is)."""
    try:
        alert = service.open_alert(
            session,
            alert_id=id_or_404(alert_id, "alert"),
            user_id=staff.user_id,
            scope=staff.scope,
            now=utcnow(),
        )
    except NotFound as error:
        raise not_found("alert") from error
    target = customer_url(alert.profile_id) if alert.profile_id else "/showroom/leads"
    return Response(status_code=303, headers={"Location": target})


@router.post("/alerts/{alert_id}/read")
def mark_read(
    request: Request,
    session: DbSession,
    staff: CsrfStaff,
    alert_id: str,
    next: Annotated[Short, Form()] = "",
) -> Response:
    try:
        service.open_alert(
            session,
            alert_id=id_or_404(alert_id, "alert"),
            user_id=staff.user_id,
            scope=staff.scope,
            now=utcnow(),
        )
    except NotFound as error:
        raise not_found("alert") from error
    if is_htmx(request):
        return _tray(request, session, staff)
    return redirect(request, safe_next(next, "/alerts", within="/"))


@router.post("/alerts/read")
def mark_all_read(
    request: Request,
    session: DbSession,
    staff: CsrfStaff,
    up_to: Annotated[Short, Form()] = "",
    next: Annotated[Short, Form()] = "",
) -> Response:
    """Everything listed when the person pressed it (up to the newest alert they saw) is read;
    an alert that arrived meanwhile stays unread."""
    service.mark_all_read(
        session,
        user_id=staff.user_id,
        scope=staff.scope,
        up_to_id=_number(up_to),
        now=utcnow(),
    )
    if is_htmx(request):
        return _tray(request, session, staff)
    return redirect(request, safe_next(next, "/alerts", within="/"))


def _number(raw: str) -> int:
    return whole_number(raw.strip()[:20], most=MAX_ROW_ID) or 0


def _last_event_id(request: Request, after: str) -> int:
    """Where the stream starts: after the last alert this page was sent (the browser's
    Last-Event-ID when it reconnects), else after `after` (0: send the tray at once)."""
    for raw in (request.headers.get("last-event-id", ""), after):
        number = _number(raw)
        if number > 0:
            return number
    return 0


@router.get("/alerts/stream")
async def stream(request: Request, after: Annotated[str, Query(max_length=12)] = "") -> Response:
    """Server-sent events for the tray (htmx's SSE extension). The sign-in is checked here, on a
    session of its own closed before streaming: a stream holds no database connection while
    it waits."""
    sessions: sessionmaker[Session] = request.app.state.sessionmaker
    settings = request.app.state.settings
    idle = timedelta(minutes=settings.session_idle_minutes)
    token = request.cookies.get(SESSION_COOKIE, "")

    def sign_in() -> StaffContext | None:
        with sessions() as session, session.begin():
            return resolve_session(session, token, idle=idle) if token else None

    staff = await asyncio.to_thread(sign_in)
    if staff is None:
        # Not 200: the browser stops reconnecting (htmx's extension tries again later).
        return Response(status_code=401, headers={"Cache-Control": "no-store"})
    templates: Jinja2Templates = request.app.state.templates
    template = templates.get_template(TRAY_ITEMS)

    def read(after_id: int) -> Snapshot | None:
        with sessions() as session:
            if not session_still_valid(session, session_id=staff.session_id, idle=idle):
                raise StreamEnded
            newest = service.latest_unread_id(session, user_id=staff.user_id, scope=staff.scope)
            if newest <= after_id:
                return None
            tray = service.tray(session, user_id=staff.user_id, scope=staff.scope)
            html = template.render(
                {"tray": tray, "csrf_token": staff.csrf_token, "request": request}
            )
            return Snapshot(newest_id=tray.newest_id or newest, html=html)

    async def load(after_id: int) -> Snapshot | None:
        return await asyncio.to_thread(read, after_id)

    hub: AlertHub = request.app.state.alert_hub
    return StreamingResponse(
        alert_stream(
            hub, user_id=staff.user_id, after_id=_last_event_id(request, after), load=load
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
