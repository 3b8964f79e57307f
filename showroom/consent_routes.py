"""Consent on the customer page: staff record a grant or a withdrawal with a reason (asked to
confirm a withdrawal first), and read the whole history (docs/pages.md, "Consent")."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.consent.history import PURPOSE_LABELS, consent_history
from cdp.consent.service import (
    COMMON_REASONS,
    MAX_REASON,
    MAX_WORDING,
    StaffStatement,
    check,
    default_wording,
    record_by_staff,
)
from cdp.deps import DbSession
from cdp.models import CONSENT_PURPOSES, CONSENT_STATUSES, utcnow
from cdp.profiles import repository as profiles_repo
from cdp.profiles.repository import live_profile
from cdp.profiles.service import display_name
from cdp.web import (
    confirm_step,
    customer_url,
    not_found,
    posting,
    profile_uuid,
    redirect,
    render,
    require,
)

router = APIRouter(include_in_schema=False)
LookupStaff = Annotated[StaffContext, Depends(require(Permission.LOOKUP))]
DealStaff = Annotated[StaffContext, Depends(require(Permission.CUSTOMER_DEAL))]
DealPosting = Annotated[StaffContext, Depends(posting(Permission.CUSTOMER_DEAL))]
CONSENT_PATH = "/showroom/customers/{profile_id}/consent"
PER_PAGE = 50
Field = Annotated[str, Form(max_length=400)]


def _live(session: Session, profile_id: str) -> uuid.UUID:
    live = live_profile(session, profile_uuid(profile_id))
    if live is None:
        raise not_found("customer")
    return live.id


def _name(session: Session, pid: uuid.UUID) -> str:
    traits = {t.name: t.value for t in profiles_repo.traits(session, [pid]) if t.profile_id == pid}
    return display_name(traits) or "Anonymous visitor"


def _form(
    request: Request,
    session: Session,
    pid: uuid.UUID,
    given: StaffStatement,
    *,
    problems: dict[str, str] | None = None,
) -> Response:
    history = consent_history(session, pid)
    addresses = [s.address for s in history.standings if s.purpose == given.purpose and s.address]
    return render(
        request,
        "showroom/customer/consent_form.html",
        {
            "profile_id": pid,
            "name": _name(session, pid),
            "given": given,
            "addresses": addresses,
            "problems": problems or {},
            "labels": PURPOSE_LABELS,
            "reasons": COMMON_REASONS,
            "max_reason": MAX_REASON,
            "max_wording": MAX_WORDING,
        },
        status_code=400 if problems else 200,
    )


@router.get(CONSENT_PATH, response_class=HTMLResponse)
def history_page(
    request: Request,
    session: DbSession,
    _staff: LookupStaff,
    profile_id: str,
    page: Annotated[str, Query(max_length=20)] = "1",
) -> Response:
    """Every statement, newest first, PER_PAGE a page (a page number out of range, or not a
    number, shows the nearest page)."""
    pid = _live(session, profile_id)
    history = consent_history(session, pid)
    pages = max(1, -(-len(history.statements) // PER_PAGE))
    number = (
        min(max(int(page), 1), pages) if page.strip().isascii() and page.strip().isdigit() else 1
    )
    start = (number - 1) * PER_PAGE
    return render(
        request,
        "showroom/customer/consent_history.html",
        {
            "profile_id": pid,
            "name": _name(session, pid),
            "consent": history,
            "shown": history.statements[start : start + PER_PAGE],
            "page": number,
            "pages": pages,
            "labels": PURPOSE_LABELS,
        },
    )


@router.get(CONSENT_PATH + "/new", response_class=HTMLResponse)
def new_statement(
    request: Request,
    session: DbSession,
    _staff: DealStaff,
    profile_id: str,
    purpose: Annotated[str, Query(max_length=20)] = "email",
    status: Annotated[str, Query(max_length=20)] = "granted",
    address: Annotated[str, Query(max_length=400)] = "",
) -> Response:
    pid = _live(session, profile_id)
    if purpose not in CONSENT_PURPOSES or status not in CONSENT_STATUSES:
        raise not_found("consent form")
    wording = default_wording(purpose, status)
    return _form(request, session, pid, StaffStatement(purpose, status, address, "", wording))


@router.post(CONSENT_PATH, response_class=HTMLResponse)
def record_statement(
    request: Request,
    session: DbSession,
    staff: DealPosting,
    profile_id: str,
    purpose: Annotated[str, Form(max_length=20)] = "",
    status: Annotated[str, Form(max_length=20)] = "",
    address: Field = "",
    reason: Annotated[str, Form(max_length=MAX_REASON + 100)] = "",
    wording: Annotated[str, Form(max_length=MAX_WORDING + 100)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    pid = _live(session, profile_id)
    given = StaffStatement(purpose, status, address, reason, wording)
    region = request.app.state.settings.default_phone_region
    held, problems = check(session, pid, given, phone_region=region)
    if problems:
        return _form(request, session, pid, given, problems=problems)
    if status == "withdrawn" and confirm != "yes":
        what = PURPOSE_LABELS[purpose].lower()
        target = f" to {held}" if held else ""
        return confirm_step(
            request,
            question=f"Withdraw {what} consent{target}?",
            details=[
                "It takes effect at once: exports and segments leave it out from now on.",
                f"Reason: {reason.strip()}",
            ],
            action=CONSENT_PATH.format(profile_id=pid),
            fields={
                "purpose": purpose,
                "status": status,
                "address": held or "",
                "reason": reason,
                "wording": wording,
            },
            yes="Yes, withdraw consent",
            back_url=customer_url(pid) + "#consent-h",
            staff=staff,
        )
    record_by_staff(
        session,
        pid,
        given,
        staff_user_id=staff.user_id,
        staff_email=staff.email,
        now=utcnow(),
        phone_region=region,
    )
    return redirect(request, customer_url(pid) + "#consent-h")
