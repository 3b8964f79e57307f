"""Staff administration: invite people, change their role, deactivate and reactivate them.

There is no e-mail: inviting someone shows a one-time link (/invite/{token}) that the admin hands
over in person or through a channel they trust. Every change needs the USERS permission and the
session's CSRF token; an admin cannot lock themselves out (deactivate or demote themselves).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cdp.auth import staff as staff_service
from cdp.auth.keys import digest
from cdp.auth.permissions import Permission, allows
from cdp.auth.staff import StaffContext
from cdp.dealers import service as dealers
from cdp.deps import DbSession
from cdp.errors import CdpError
from cdp.ids import row_id
from cdp.models import ROLES, Dealer, StaffUser, utcnow
from cdp.web import CsrfStaff, PageForbidden, confirm_step, redirect, render, require

router = APIRouter(include_in_schema=False)
AdminStaff = Annotated[StaffContext, Depends(require(Permission.USERS))]

USERS_URL = "/admin/users"
# Matches cdp.auth.staff.invite_user; used when an admin issues a fresh link for an expired one.
INVITE_VALID_FOR = timedelta(days=7)
MAX_EMAIL = 320
MAX_NAME = 200

# What each permission means to the person choosing a role (shown beside the invite form).
PERMISSION_LABELS: dict[Permission, str] = {
    Permission.LOOKUP: "find customers and see their configuration",
    Permission.CUSTOMER_DEAL: "leads and notes on a customer",
    Permission.TABLET: "showroom tablet sessions",
    Permission.LEADS: "work their own leads",
    Permission.LEADS_ALL: "see and assign everyone's leads",
    Permission.APPOINTMENTS: "today's visitors and appointments",
    Permission.DELIVERIES: "the handover queue",
    Permission.SEGMENTS: "segments, audiences and exports (at no dealer: the importer's staff)",
    Permission.FUNNEL: "the lead funnel and plans",
    Permission.USERS: "invite staff, change roles, deactivate",
    Permission.PRIVACY: "copy or erase a person's data on request",
    Permission.SPLIT_MERGE: "undo a wrong merge of two customers",
    Permission.AUDIT: "the audit trail: who viewed, exported, edited or erased whom",
    Permission.NETWORK: "the network view: every dealer's figures side by side",
    Permission.DEALERS: "add, edit, deactivate and import dealers",
    Permission.NORMS: "name channels and set their norms (at no dealer: the importer's staff)",
    Permission.SPEND: "enter and import marketing spend, set the margin per sale",
}

# Confirmations after a redirect: a fixed key in the URL, never text taken from it.
NOTICES = {
    "role": "Role changed. It applies from their next click.",
    "dealers": "Dealers changed. It applies from their next click.",
}
# One form field per checked dealer: <input type="checkbox" name="dealer" value="CODE">.
DealerCodes = Annotated[list[str], Form()]


def _admin_with_csrf(staff: AdminStaff, _checked: CsrfStaff) -> StaffContext:
    """Permission first (a clear "no access" page), then the form's CSRF token."""
    return staff


AdminCsrf = Annotated[StaffContext, Depends(_admin_with_csrf)]


@dataclass(frozen=True, slots=True)
class StaffRow:
    user: StaffUser
    status: str  # active | invited | invite_expired | deactivated
    is_me: bool
    dealer_codes: list[str]  # none: the whole network (or, for floor staff, nowhere yet)


@dataclass(frozen=True, slots=True)
class Invitation:
    email: str
    name: str
    link: str
    expires_at: datetime


def _status(user: StaffUser, now: datetime) -> str:
    if not user.active:
        return "deactivated"
    if user.password_hash is None:
        if user.invite_expires_at is not None and user.invite_expires_at >= now:
            return "invited"
        return "invite_expired"
    return "active"


def _rows(session: Session, me: StaffContext, now: datetime) -> list[StaffRow]:
    users = session.scalars(
        select(StaffUser).order_by(func.lower(StaffUser.name), StaffUser.id)
    ).all()
    codes = dealers.dealer_codes_by_user(session, [u.id for u in users])
    return [
        StaffRow(user=u, status=_status(u, now), is_me=u.id == me.user_id, dealer_codes=codes[u.id])
        for u in users
    ]


def _page(
    request: Request,
    session: Session,
    staff: StaffContext,
    *,
    error: str | None = None,
    invite_error: str | None = None,
    error_field: str | None = None,
    error_user_id: int | None = None,
    form: dict[str, str] | None = None,
    chosen_dealers: list[str] | None = None,
    invitation: Invitation | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    now = utcnow()
    response = render(
        request,
        "admin/users.html",
        {
            "rows": _rows(session, staff, now),
            "roles": ROLES,
            "role_summaries": {
                role: [label for p, label in PERMISSION_LABELS.items() if allows(role, p)]
                for role in ROLES
            },
            "error": error,
            "invite_error": invite_error,
            "error_field": error_field,
            "error_user_id": error_user_id,
            "form": form or {"email": "", "name": "", "role": "sales"},
            "dealers": [d for d in dealers.all_dealers(session) if d.active],
            "chosen_dealers": chosen_dealers or [],
            "floor_roles": sorted(dealers.FLOOR_ROLES),
            "invitation": invitation,
            "notice": notice,
        },
        status_code=status_code,
        staff=staff,
    )
    if invitation is not None:  # the page holds a secret: keep it out of caches
        response.headers["Cache-Control"] = "no-store"
    return response


def _user_or_404(session: Session, user_id: str) -> StaffUser:
    number = row_id(user_id)
    user = session.get(StaffUser, number) if number is not None else None
    if user is None:
        raise PageForbidden("There is no staff member with this link.", status_code=404)
    return user


def _invitation(request: Request, user: StaffUser, token: str) -> Invitation:
    # The address the admin is using right now is the one the invitee can reach too.
    return Invitation(
        email=user.email,
        name=user.name,
        link=f"{str(request.base_url).rstrip('/')}/invite/{token}",
        expires_at=user.invite_expires_at or utcnow() + INVITE_VALID_FOR,
    )


@router.get(USERS_URL, response_class=HTMLResponse)
def users_page(request: Request, session: DbSession, staff: AdminStaff) -> Response:
    notice = NOTICES.get(request.query_params.get("done", ""))
    return _page(request, session, staff, notice=notice)


@router.post(f"{USERS_URL}/invite", response_class=HTMLResponse)
def invite(
    request: Request,
    session: DbSession,
    staff: AdminCsrf,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    dealer: DealerCodes = [],  # noqa: B006 (FastAPI copies defaults)
) -> Response:
    """Create the account without a password and show its one-time link; the dealers they work
    at follow the rule of `cdp user create --dealer` (cdp/dealers/service.py).

    The page is rendered, not redirected to: the token is shown once and must not travel in a
    URL (browser history, proxy logs).
    """
    form = {"email": email, "name": name, "role": role}
    codes = dealer or []

    def refuse(message: str, field: str) -> Response:
        session.rollback()
        return _page(
            request,
            session,
            staff,
            invite_error=message,
            error_field=field,
            form=form,
            chosen_dealers=codes,
            status_code=400,
        )

    if not email.strip():
        return refuse("Enter the e-mail address of the person you invite.", "email")
    if len(email) > MAX_EMAIL:
        return refuse(f"The e-mail address is too long (at most {MAX_EMAIL} characters).", "email")
    if len(name) > MAX_NAME:
        return refuse(f"The name is too long (at most {MAX_NAME} characters).", "name")
    if role not in ROLES:
        return refuse(f"Choose a role: one of {', '.join(ROLES)}.", "role")
    try:
        user, token = staff_service.invite_user(
            session, email=email, role=role, name=name.strip() or None, dealers=codes
        )
    except CdpError as error:
        return refuse(f"Not invited: {error.message}.", error.field or "email")
    return _page(request, session, staff, invitation=_invitation(request, user, token))


@router.post(f"{USERS_URL}/{{user_id}}/invite", response_class=HTMLResponse)
def reinvite(request: Request, session: DbSession, staff: AdminCsrf, user_id: str) -> Response:
    """A fresh one-time link for someone who has not set a password yet (the old one stops)."""
    user = _user_or_404(session, user_id)
    if user.password_hash is not None or not user.active:
        why = "has already set a password" if user.active else "is deactivated: reactivate first"
        return _page(
            request,
            session,
            staff,
            error=f"No new invitation: {user.name} {why}.",
            error_user_id=user.id,
            status_code=400,
        )
    token = secrets.token_urlsafe(32)
    user.invite_token_hash = digest(token)
    user.invite_expires_at = utcnow() + INVITE_VALID_FOR
    session.flush()
    return _page(request, session, staff, invitation=_invitation(request, user, token))


@router.post(f"{USERS_URL}/{{user_id}}/role", response_class=HTMLResponse)
def change_role(
    request: Request,
    session: DbSession,
    staff: AdminCsrf,
    user_id: str,
    role: Annotated[str, Form()] = "",
) -> Response:
    user = _user_or_404(session, user_id)
    error = None
    if role not in ROLES:
        error = f"Role not changed: choose one of {', '.join(ROLES)}."
    elif user.id == staff.user_id and role != user.role:
        error = "You cannot change your own role. Ask another admin to do it."
    else:
        codes = dealers.dealer_codes_by_user(session, [user.id])[user.id]
        try:  # floor staff work at a dealer: with one active dealer they join it
            works_at = dealers.dealers_for_staff(session, role=role, codes=codes)
        except CdpError as refusal:
            error = f"Role not changed: {refusal.message}. Choose their dealers first."
    if error:
        return _page(request, session, staff, error=error, error_user_id=user.id, status_code=400)
    # Takes effect on their next request: the session reads the role from the account.
    user.role = role
    dealers.set_staff_dealers(session, user.id, works_at)
    return redirect(request, f"{USERS_URL}?done=role")


@router.post(f"{USERS_URL}/{{user_id}}/deactivate", response_class=HTMLResponse)
def deactivate(
    request: Request,
    session: DbSession,
    staff: AdminCsrf,
    user_id: str,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    user = _user_or_404(session, user_id)
    if user.id == staff.user_id:
        return _page(
            request,
            session,
            staff,
            error="You cannot deactivate your own account. Ask another admin to do it.",
            error_user_id=user.id,
            status_code=400,
        )
    if user.active and confirm != "yes":
        return confirm_step(
            request,
            question=f"Deactivate {user.name}?",
            details=[
                f"{user.name} ({user.email}, {user.role}) is signed out everywhere and can no "
                "longer sign in; an unused invitation stops working.",
                "Their leads, notes and history stay. You can reactivate the account later.",
            ],
            action=f"{USERS_URL}/{user.id}/deactivate",
            fields={},
            yes="Deactivate",
            back_url=USERS_URL,
            back_label="No, keep the account",
            staff=staff,
        )
    user.active = False
    # An unused invitation must not let a deactivated person set a password later.
    user.invite_token_hash = None
    user.invite_expires_at = None
    staff_service.end_sessions_of(session, user.id)
    return redirect(
        request,
        USERS_URL,
        done=f"{user.name} ({user.email}): account deactivated; signed out everywhere.",
    )


@router.post(f"{USERS_URL}/{{user_id}}/reactivate", response_class=HTMLResponse)
def reactivate(request: Request, session: DbSession, staff: AdminCsrf, user_id: str) -> Response:
    user = _user_or_404(session, user_id)
    user.active = True
    return redirect(
        request,
        USERS_URL,
        done=f"{user.name} ({user.email}): account reactivated; they can sign in again with "
        "their password.",
    )


def _dealers_page(
    request: Request,
    session: Session,
    staff: StaffContext,
    user: StaffUser,
    *,
    chosen: list[str],
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    everyone = dealers.all_dealers(session)
    return render(
        request,
        "admin/user_dealers.html",
        {
            "user": user,
            # Inactive dealers only where the person still works at one (so it can be unticked).
            "dealers": [d for d in everyone if d.active or d.code in chosen],
            "chosen_dealers": chosen,
            "floor": user.role in dealers.FLOOR_ROLES,
            "error": error,
        },
        status_code=status_code,
        staff=staff,
    )


@router.get(f"{USERS_URL}/{{user_id}}/dealers", response_class=HTMLResponse)
def user_dealers_page(
    request: Request, session: DbSession, staff: AdminStaff, user_id: str
) -> Response:
    user = _user_or_404(session, user_id)
    chosen = dealers.dealer_codes_by_user(session, [user.id])[user.id]
    return _dealers_page(request, session, staff, user, chosen=chosen)


@router.post(f"{USERS_URL}/{{user_id}}/dealers", response_class=HTMLResponse)
def change_dealers(
    request: Request,
    session: DbSession,
    staff: AdminCsrf,
    user_id: str,
    dealer: DealerCodes = [],  # noqa: B006 (FastAPI copies defaults)
) -> Response:
    """The dealers someone works at, by the rule of `cdp user create --dealer`."""
    user = _user_or_404(session, user_id)
    codes = dealer or []
    try:
        works_at: list[Dealer] = dealers.dealers_for_staff(session, role=user.role, codes=codes)
    except CdpError as refusal:
        return _dealers_page(
            request,
            session,
            staff,
            user,
            chosen=codes,
            error=f"Dealers not changed: {refusal.message}.",
            status_code=400,
        )
    dealers.set_staff_dealers(session, user.id, works_at)
    return redirect(request, f"{USERS_URL}?done=dealers")
