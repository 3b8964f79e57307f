"""What every staff page shares: who is signed in, permission checks, CSRF, rendering."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from cdp.audit.service import record
from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext, resolve_session
from cdp.dealers import repository as dealers_repo
from cdp.dealers.visibility import (
    DealerScope,
    finds_person,
    may_change_lead,
    may_take_lead,
    people_filter,
)
from cdp.deps import DbSession, ReadSession
from cdp.errors import NotFound
from cdp.ids import row_id
from cdp.leads import service
from cdp.leads.labels import OPTIONS, Options
from cdp.models import Lead, utcnow
from cdp.profiles.repository import absorbed_ids

SESSION_COOKIE = "cdp_session"


class LoginRequired(Exception):
    """Raised by page dependencies; the app answers with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class PageForbidden(Exception):
    def __init__(self, message: str, status_code: int = 403) -> None:
        self.message = message
        self.status_code = status_code


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    staff: StaffContext | None = None,
) -> HTMLResponse:
    """Render a page; `layout` is the full page, or a bare partial for htmx requests."""
    templates: Jinja2Templates = request.app.state.templates
    staff = staff or getattr(request.state, "staff", None)
    full = not is_htmx(request) or request.headers.get("hx-boosted") == "true"
    flash = unquote(request.cookies.get(_FLASH, ""))[:MAX_FLASH] if full else ""
    values = {
        "staff": staff,
        "csrf_token": staff.csrf_token if staff else "",
        "layout": "base.html" if full else "_partial.html",
        "Permission": Permission,
        "now": utcnow(),
        "options": page_options(request),
        "flash": flash,
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    if flash:  # said once, on the page the action led to
        response.delete_cookie(_FLASH, path="/")
    return response


# What an action did, said on the page it leads to ("The test drive with … was cancelled."):
# a cookie of the browser that did it, read and dropped by the next full page (any page, so
# wherever `next` leads), shown as text (escaped like any other).
_FLASH = "cdp_done"
MAX_FLASH = 300


def confirm_step(
    request: Request,
    *,
    question: str,
    details: list[str],
    action: str,
    fields: dict[str, str],
    yes: str,
    back_url: str,
    back_label: str = "No, go back",
    staff: StaffContext | None = None,
) -> HTMLResponse:
    """Ask once before an action that discards or finalises: a page of its own (it works without
    JS) whose form sends the same fields again, with confirm=yes."""
    return render(
        request,
        "confirm.html",
        {
            "question": question,
            "details": details,
            "action": action,
            "fields": {**fields, "confirm": "yes"},
            "yes": yes,
            "back_url": back_url,
            "back_label": back_label,
        },
        staff=staff,
    )


# What an address may hold as it is (RFC 3986's reserved characters, and escapes already made).
_URL_CHARACTERS = ":/?#[]@!$&'()*+,;=%"


def redirect(request: Request, url: str, *, done: str = "") -> Response:
    """After a successful POST: a 303 for browsers, HX-Redirect for htmx; `done`: what was done,
    said on the page it leads to.

    The address is percent-encoded where it holds what a header cannot (a `next` page with a
    euro sign made the answer a 500, and the action was lost with its rolled-back session);
    only the path and query change, never the host it points to.
    """
    url = quote(url, safe=_URL_CHARACTERS, errors="replace")
    if is_htmx(request):
        response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        response = Response(status_code=303, headers={"Location": url})
    if done:
        response.set_cookie(
            _FLASH, quote(done[:MAX_FLASH]), max_age=120, path="/", httponly=True, samesite="lax"
        )
    return response


def _return_path(request: Request) -> str:
    """Where to come back after signing in: this page, or for a form or htmx action (a POST
    address that cannot be opened) the page it was sent from."""
    if request.method in ("GET", "HEAD"):
        path = request.url.path
        return f"{path}?{request.url.query}" if request.url.query else path
    try:
        came_from = urlsplit(
            request.headers.get("hx-current-url") or request.headers.get("referer", "")
        )
    except ValueError:  # a malformed port or IPv6 literal ("http://[::1"): no page to go back to
        return "/showroom"
    if came_from.netloc != request.url.netloc or not came_from.path.startswith("/"):
        return "/showroom"
    return f"{came_from.path}?{came_from.query}" if came_from.query else came_from.path


def current_staff(request: Request, session: DbSession) -> StaffContext:
    return _signed_in(request, session)


def reading_staff(request: Request, session: ReadSession) -> StaffContext:
    """current_staff, through the session of a request that only reads (cdp/deps.py)."""
    return _signed_in(request, session)


def _signed_in(request: Request, session: Session) -> StaffContext:
    token = request.cookies.get(SESSION_COOKIE)
    settings = request.app.state.settings
    staff = (
        resolve_session(session, token, idle=timedelta(minutes=settings.session_idle_minutes))
        if token
        else None
    )
    if staff is None:
        raise LoginRequired(quote(_return_path(request), safe="/?=&"))
    request.state.staff = staff
    # The importer's channel names, read through this request's session when the app's copy
    # is a few seconds old (cdp/leads/channel_options.py).
    request.state.options = request.app.state.channel_options.get(session)
    return staff


def page_options(request: Request) -> Options:
    """The lead choices and words for this request: the importer's channel names for signed-in
    staff (set by current_staff), the built-in ones on pages before sign-in."""
    options: Options = getattr(request.state, "options", OPTIONS)
    return options


Staff = Annotated[StaffContext, Depends(current_staff)]
ReadingStaff = Annotated[StaffContext, Depends(reading_staff)]


def require(permission: Permission) -> Callable[..., Awaitable[StaffContext]]:
    """A dependency: the signed-in staff member, if their role allows `permission`."""

    async def dependency(staff: Staff) -> StaffContext:  # no I/O: no thread-pool hand-off
        return _allowed(staff, permission)

    return dependency


def require_reading(permission: Permission) -> Callable[..., Awaitable[StaffContext]]:
    """`require` for a request that only reads, checked through its ReadSession."""

    async def dependency(staff: ReadingStaff) -> StaffContext:
        return _allowed(staff, permission)

    return dependency


def _allowed(staff: StaffContext, permission: Permission) -> StaffContext:
    if not staff.can(permission):
        raise PageForbidden(f"Your role ({staff.role}) does not give access to this page.")
    return staff


async def check_csrf(request: Request, staff: Staff) -> StaffContext:
    """Every state-changing staff request carries the session's CSRF token."""
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent, staff.csrf_token):
        raise PageForbidden(
            "This form has expired or did not come from this site. Reload the page and try again."
        )
    return staff


CsrfStaff = Annotated[StaffContext, Depends(check_csrf)]


def posting(permission: Permission) -> Callable[[StaffContext], Awaitable[StaffContext]]:
    """A dependency for state-changing requests: a valid CSRF token, then the permission."""

    async def dependency(staff: CsrfStaff) -> StaffContext:
        if not staff.can(permission):
            raise PageForbidden(f"Your role ({staff.role}) does not give access to this page.")
        return staff

    return dependency


def not_found(what: str) -> PageForbidden:
    return PageForbidden(
        f"There is no {what} with this link. It may have been mistyped or deleted.", 404
    )


def profile_uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as error:
        raise not_found("customer") from error


def id_or_404(raw: str, what: str) -> int:
    """A numeric id from a path; anything else is a link to nothing."""
    value = row_id(raw)
    if value is None:
        raise not_found(what)
    return value


def customer_url(profile_id: uuid.UUID) -> str:
    return f"/showroom/customers/{profile_id}"


Text = Annotated[str, Form(max_length=5000)]


Short = Annotated[str, Form(max_length=400)]


def lead_or_404(
    session: Session, lead_id: str, scope: DealerScope, *, for_update: bool = False
) -> Lead:
    """The lead, if the caller's scope sees it; another dealer's is answered as unknown."""
    try:
        lead = service.get_lead(session, id_or_404(lead_id, "lead"), for_update=for_update)
    except NotFound as error:
        raise not_found("lead") from error
    if not scope.sees(lead.dealer_id):
        raise not_found("lead")
    return lead


def lead_to_change(
    session: Session,
    lead_id: str,
    staff: StaffContext,
    *,
    for_update: bool = True,
) -> Lead:
    """A lead this staff member may change (locked for the change), else 404 (not in their
    scope) or 403 (a colleague's lead). A salesperson may work an unassigned lead of their own
    dealer: working it (a contact, a stage, a next action) makes it theirs, as taking it does."""
    lead = lead_or_404(session, lead_id, staff.scope, for_update=for_update)
    leads_all = staff.can(Permission.LEADS_ALL)
    if may_change_lead(staff.scope, user_id=staff.user_id, leads_all=leads_all, lead=lead):
        return lead
    if may_take_lead(staff.scope, leads_all=leads_all, lead=lead):
        if for_update and staff.can(Permission.LEADS):
            lead.assigned_user_id = staff.user_id  # rolled back with a refused change
        return lead
    raise PageForbidden(
        "This lead is assigned to a colleague: only they or a sales manager change it."
    )


def audit(
    session: Session, staff: StaffContext, action: str, profile_id: uuid.UUID, detail: str = ""
) -> None:
    """Record a staff member's action on a customer in the audit trail (cdp.audit)."""
    record(
        session,
        action,
        actor=staff.email,
        staff_user_id=staff.user_id,
        profile_id=profile_id,
        detail=detail,
    )


def shares_customers(request: Request) -> bool:
    return bool(request.app.state.settings.share_customers_across_dealers)


def lookup_dealers(request: Request, staff: StaffContext) -> frozenset[int] | None:
    """What lookup passes as `active_at` for this staff member (None: everyone)."""
    return people_filter(staff.scope, shared=shares_customers(request))


def person_or_404(
    request: Request, session: Session, staff: StaffContext, profile_id: uuid.UUID
) -> None:
    """With customers not shared across dealers, a person without activity at the staff
    member's dealers is answered as unknown (cdp/dealers/visibility.py decides)."""
    ids = [profile_id, *absorbed_ids(session, profile_id)]
    if not finds_person(session, staff.scope, ids, shared=shares_customers(request)):
        raise not_found("customer")


@dataclass(frozen=True, slots=True)
class DealerChoice:
    """`?dealer=CODE` on a list page: the scope it shows, the dealers to choose from (only
    offered when there are several), and a problem with the code asked for."""

    scope: DealerScope
    code: str
    choices: list[tuple[str, str]]
    problem: str | None = None

    @property
    def query(self) -> str:
        return f"dealer={quote(self.code)}" if self.code else ""


def dealer_choice(session: Session, staff: StaffContext, raw: str) -> DealerChoice:
    """Narrow a list to one of the caller's dealers (for importer staff: any dealer). An unknown
    code, or one outside the caller's dealers, leaves the list as it was and says so."""
    choices = [
        (dealer.code, dealer.name)
        for dealer in dealers_repo.all_dealers(session)
        if staff.scope.sees(dealer.id) and (dealer.active or raw.strip().upper() == dealer.code)
    ]
    code = raw.strip().upper()[:20]
    if not code:
        return DealerChoice(staff.scope, "", choices)
    dealer = dealers_repo.dealers_by_code(session, [code]).get(code)
    if dealer is None or not staff.scope.sees(dealer.id):
        return DealerChoice(
            staff.scope,
            "",
            choices,
            f"There is no dealer with the code {code}: showing all of yours instead.",
        )
    return DealerChoice(DealerScope(frozenset({dealer.id})), dealer.code, choices)
