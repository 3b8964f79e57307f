"""Staff administration: invite people, change their role and dealers, deactivate and reactivate
them; every change in the audit trail (action "staff", cdp/audit/staff.py).

There is no e-mail: inviting someone shows a one-time link (/invite/{token}) that the admin hands
over in person or through a channel they trust. Every change needs the USERS permission and the
session's CSRF token; an admin cannot lock themselves out (deactivate or demote themselves).

A change that leaves someone with open leads they can no longer work (a dealer they leave, a role
without leads, deactivation) asks first, saying how many at which dealers, and on confirming hands
them over: back to each dealer's unassigned queue, or to a colleague chosen there
(cdp/leads/staff_leaving.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cdp.audit import staff as staff_audit
from cdp.auth import staff as staff_service
from cdp.auth.keys import digest
from cdp.auth.permissions import Permission, allows
from cdp.auth.staff import StaffContext, StaffFilter
from cdp.dealers import service as dealers
from cdp.dealers.visibility import DealerScope
from cdp.deps import DbSession
from cdp.errors import CdpError, InvalidInput
from cdp.ids import row_id
from cdp.leads import staff_leaving
from cdp.leads.staff_leaving import Handover, Stranded
from cdp.models import ROLES, Dealer, StaffUser, utcnow
from cdp.web import CsrfStaff, PageForbidden, audit, redirect, render, require

router = APIRouter(include_in_schema=False)
AdminStaff = Annotated[StaffContext, Depends(require(Permission.USERS))]

USERS_URL = "/admin/users"
# Matches cdp.auth.staff.invite_user; used when an admin issues a fresh link for an expired one.
INVITE_VALID_FOR = timedelta(days=7)
MAX_EMAIL = 320
MAX_NAME = 200
PER_PAGE = 50
LIST_FIELDS = ("q", "role", "dealer", "page")  # the list's filters, kept across its forms
NO_DEALER = "-none"  # the dealer filter's "works at no dealer" (no code starts with "-")

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
# The list's filters as its page had them (q=...&page=2), sent back by the forms on the list.
ListQuery = Annotated[str, Form(alias="list", max_length=400)]


def _admin_with_csrf(staff: AdminStaff, _checked: CsrfStaff) -> StaffContext:
    """Permission first (a clear "no access" page), then the form's CSRF token."""
    return staff


AdminCsrf = Annotated[StaffContext, Depends(_admin_with_csrf)]


async def _handover_fields(request: Request) -> dict[str, str]:
    """The confirmation's choices of whom each dealer's open leads go to (to_<dealer id>)."""
    form = await request.form()  # read once per request (Starlette keeps it)
    return {
        key: str(value)[:20]
        for key, value in list(form.multi_items())[:500]
        if key.startswith("to_") and isinstance(value, str)
    }


HandoverFields = Annotated[dict[str, str], Depends(_handover_fields)]


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


@dataclass(frozen=True, slots=True)
class StaffList:
    """The list's filters as typed, what they select, and the page of rows shown."""

    typed: dict[str, str]
    rows: list[StaffRow]
    total: int
    page: int
    pages: int

    @property
    def first(self) -> int:
        return (self.page - 1) * PER_PAGE + 1

    @property
    def last(self) -> int:
        return min(self.page * PER_PAGE, self.total)

    def query(self, **extra: str) -> str:
        """The filters (and `extra`) as a query string, for links and the forms' `list`."""
        return urlencode({k: v for k, v in {**self.typed, **extra}.items() if v})


def _status(user: StaffUser, now: datetime) -> str:
    if not user.active:
        return "deactivated"
    if user.password_hash is None:
        if user.invite_expires_at is not None and user.invite_expires_at >= now:
            return "invited"
        return "invite_expired"
    return "active"


def _typed(values: dict[str, str]) -> dict[str, str]:
    return {key: values.get(key, "").strip()[:100] for key in LIST_FIELDS}


def _typed_from_query(raw: str) -> dict[str, str]:
    """A list query sent back by a form (never followed as an address: only its fields)."""
    return _typed(dict(parse_qsl(raw[:400])))


def _staff_list(
    session: Session, me: StaffContext, typed: dict[str, str], everyone: list[Dealer], now: datetime
) -> StaffList:
    """One page of the staff list by name: filtered by part of a name or e-mail address, a role,
    and a dealer they work at (NO_DEALER: at none). Unknown choices are ignored."""
    code = typed["dealer"].upper()
    dealer = next((d for d in everyone if d.code == code), None)
    chosen = StaffFilter(
        text=typed["q"],
        role=typed["role"] if typed["role"] in ROLES else None,
        dealer_id=dealer.id if dealer is not None else None,
        no_dealer=typed["dealer"] == NO_DEALER,
    )
    wanted = int(typed["page"]) if typed["page"].isdigit() and len(typed["page"]) < 6 else 1
    total = staff_service.count_staff(session, chosen)
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(wanted, 1), pages)
    users = staff_service.staff_page(session, chosen, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    codes = dealers.dealer_codes_by_user(session, [u.id for u in users])
    rows = [
        StaffRow(user=u, status=_status(u, now), is_me=u.id == me.user_id, dealer_codes=codes[u.id])
        for u in users
    ]
    return StaffList(
        typed={**typed, "page": str(page) if page > 1 else ""},
        rows=rows,
        total=total,
        page=page,
        pages=pages,
    )


def _page(
    request: Request,
    session: Session,
    staff: StaffContext,
    *,
    typed: dict[str, str] | None = None,
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
    everyone = dealers.all_dealers(session)
    listed = _staff_list(session, staff, typed or _typed({}), everyone, now)
    response = render(
        request,
        "admin/users.html",
        {
            "rows": listed.rows,
            "listed": listed,
            "list_query": listed.query(),
            "all_dealers": everyone,
            "no_dealer": NO_DEALER,
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
            "dealers": [d for d in everyone if d.active],
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


def _back_to_list(list_query: str, **extra: str) -> str:
    """The staff list as the admin left it (its filters, from the form), with `extra`."""
    kept = {k: v for k, v in _typed_from_query(list_query).items() if v}
    query = urlencode({**kept, **extra})
    return f"{USERS_URL}?{query}" if query else USERS_URL


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


# --- the list and invitations ----------------------------------------------------------------
@router.get(USERS_URL, response_class=HTMLResponse)
def users_page(request: Request, session: DbSession, staff: AdminStaff) -> Response:
    notice = NOTICES.get(request.query_params.get("done", ""))
    typed = _typed(dict(request.query_params))
    return _page(request, session, staff, typed=typed, notice=notice)


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
    URL (browser history, proxy logs). A refusal is shown at the form (at the top of the page),
    the field marked and focused, what was typed kept.
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
    if (problem := staff_service.dealer_needed(session, role, codes)) is not None:
        return refuse(f"Not invited: {problem}.", "dealer")
    try:
        user, token = staff_service.invite_user(
            session, email=email, role=role, name=name.strip() or None, dealers=codes
        )
    except CdpError as error:
        return refuse(f"Not invited: {error.message}.", error.field or "email")
    staff_audit.note_invited(
        session,
        actor=staff.email,
        by=staff.user_id,
        target=user.email,
        role=user.role,
        codes=dealers.dealer_codes_by_user(session, [user.id])[user.id],
    )
    return _page(request, session, staff, invitation=_invitation(request, user, token))


@router.post(f"{USERS_URL}/{{user_id}}/invite", response_class=HTMLResponse)
def reinvite(
    request: Request, session: DbSession, staff: AdminCsrf, user_id: str, list_query: ListQuery = ""
) -> Response:
    """A fresh one-time link for someone who has not set a password yet (the old one stops)."""
    user = _user_or_404(session, user_id)
    if user.password_hash is not None or not user.active:
        why = "has already set a password" if user.active else "is deactivated: reactivate first"
        return _page(
            request,
            session,
            staff,
            typed=_typed_from_query(list_query),
            error=f"No new invitation: {user.name} {why}.",
            error_user_id=user.id,
            status_code=400,
        )
    token = secrets.token_urlsafe(32)
    user.invite_token_hash = digest(token)
    user.invite_expires_at = utcnow() + INVITE_VALID_FOR
    session.flush()
    staff_audit.note(
        session, actor=staff.email, by=staff.user_id, target=user.email, what="new invitation link"
    )
    return _page(
        request,
        session,
        staff,
        typed=_typed_from_query(list_query),
        invitation=_invitation(request, user, token),
    )


# --- open leads someone can no longer work -----------------------------------------------------
@dataclass(frozen=True, slots=True)
class Question:
    """The question asked once before a change that strands open leads (confirm.html's, with the
    leads and whom each dealer's go to); its form sends `fields` again with confirm=yes."""

    question: str
    details: list[str]
    why: str  # "there": "... that they can no longer work there"
    action: str
    fields: list[tuple[str, str]]
    yes: str  # "Deactivate": "Deactivate and hand over the leads" when there are some
    back_url: str
    back_label: str
    no_leads: str = ""  # said when there are none to hand over


def _ask(
    request: Request,
    staff: StaffContext,
    user: StaffUser,
    asked: Question,
    left: list[Stranded],
    choices: dict[str, str],
    refusal: CdpError | None = None,
) -> Response:
    return render(
        request,
        "admin/user_confirm.html",
        {
            "asked": asked,
            "details": [
                *asked.details,
                staff_leaving.describe(user.name, left, asked.why) if left else asked.no_leads,
            ],
            "yes": f"{asked.yes} and hand over the leads" if left else asked.yes,
            "fields": [*asked.fields, ("confirm", "yes")],
            "left": left,
            "left_total": sum(group.count for group in left),
            "chosen": choices,
            "user": user,
            "error": refusal.message if refusal else None,
            "error_field": refusal.field if refusal else None,
        },
        status_code=400 if refusal else 200,
        staff=staff,
    )


def _change_handing_over(
    request: Request,
    session: Session,
    staff: StaffContext,
    user: StaffUser,
    *,
    still: DealerScope,
    asked: Question,
    confirmed: bool,
    choices: dict[str, str],
    change: Callable[[], None],
    reason: str,
    ask_anyway: bool = False,
) -> Response | Handover:
    """The change (`change`) and the hand-over of the open leads it strands: asked first when
    there are any (or `ask_anyway`), then made in one transaction, each lead moved recorded in
    the audit trail."""
    left = staff_leaving.stranded(session, user.id, still)
    if (left or ask_anyway) and not confirmed:
        return _ask(request, staff, user, asked, left, choices)
    try:
        to = staff_leaving.chosen_colleagues(left, choices)
    except CdpError as refusal:
        return _ask(request, staff, user, asked, left, choices, refusal)
    change()
    session.flush()
    handed = staff_leaving.hand_over(
        session, user_id=user.id, still=still, by_user_id=staff.user_id, reason=reason, to=to
    )
    for lead_id, profile_id in handed.leads:
        taken = f"lead {lead_id}: taken from {user.email}, who can no longer work it"
        audit(session, staff, "lead_edit", profile_id, taken)
    return handed


# --- role --------------------------------------------------------------------------------------
@router.post(f"{USERS_URL}/{{user_id}}/role", response_class=HTMLResponse)
def change_role(
    request: Request,
    session: DbSession,
    staff: AdminCsrf,
    user_id: str,
    choices: HandoverFields,
    role: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
    list_query: ListQuery = "",
) -> Response:
    user = _user_or_404(session, user_id)
    error = None
    codes = dealers.dealer_codes_by_user(session, [user.id])[user.id]
    works_at: list[Dealer] = []
    if role not in ROLES:
        error = f"Role not changed: choose one of {', '.join(ROLES)}."
    elif user.id == staff.user_id and role != user.role:
        error = "You cannot change your own role. Ask another admin to do it."
    elif staff_service.dealer_needed(session, role, codes) is not None:
        error = (
            f"Role not changed: {role} staff work at a dealer. Choose their dealers first "
            "(Change, under Dealers), then the role."
        )
    else:
        try:  # floor staff work at a dealer: with one active dealer they join it
            works_at = dealers.dealers_for_staff(session, role=role, codes=codes)
        except CdpError as refusal:
            error = f"Role not changed: {refusal.message}. Choose their dealers first."
    if error:
        typed = _typed_from_query(list_query)
        return _page(
            request, session, staff, typed=typed, error=error, error_user_id=user.id,
            status_code=400,
        )  # fmt: skip
    before, after = user.role, [d.code for d in works_at]
    works = "work no leads" if not allows(role, Permission.LEADS) else "work other leads"
    still = staff_leaving.works_leads_at(
        role=role, active=user.active, dealer_ids=[d.id for d in works_at]
    )

    def change() -> None:
        # Takes effect on their next request: the session reads the role from the account.
        user.role = role
        dealers.set_staff_dealers(session, user.id, works_at)

    done = _change_handing_over(
        request, session, staff, user, still=still, confirmed=confirm == "yes", choices=choices,
        change=change, reason=f"{user.name} is now {role} and no longer works it",
        asked=Question(
            question=f"Make {user.name} {role}?",
            details=[f"{user.name} ({user.email}) is {before} now; as {role} they {works}."],
            why=f"as {role}",
            action=f"{USERS_URL}/{user.id}/role",
            fields=[("role", role), ("list", list_query)],
            yes=f"Make them {role}",
            back_url=_back_to_list(list_query),
            back_label="No, keep their role",
        ),
    )  # fmt: skip
    if not isinstance(done, Handover):
        return done
    if before != role or codes != after or done.groups:
        staff_audit.note_role(
            session, actor=staff.email, by=staff.user_id, target=user.email, before=before,
            after=role, codes_before=codes, codes_after=after, leads=done.summary,
        )  # fmt: skip
    return redirect(request, _back_to_list(list_query, done="role"), done=done.said)


# --- deactivating and reactivating -------------------------------------------------------------
@router.post(f"{USERS_URL}/{{user_id}}/deactivate", response_class=HTMLResponse)
def deactivate(
    request: Request,
    session: DbSession,
    staff: AdminCsrf,
    user_id: str,
    choices: HandoverFields,
    confirm: Annotated[str, Form(max_length=10)] = "",
    list_query: ListQuery = "",
) -> Response:
    user = _user_or_404(session, user_id)
    if user.id == staff.user_id:
        return _page(
            request,
            session,
            staff,
            typed=_typed_from_query(list_query),
            error="You cannot deactivate your own account. Ask another admin to do it.",
            error_user_id=user.id,
            status_code=400,
        )
    was_active = user.active
    nowhere = staff_leaving.works_leads_at(role=user.role, active=False, dealer_ids=())

    def change() -> None:
        user.active = False
        # An unused invitation must not let a deactivated person set a password later.
        user.invite_token_hash = None
        user.invite_expires_at = None
        staff_service.end_sessions_of(session, user.id)

    done = _change_handing_over(
        request, session, staff, user, still=nowhere, confirmed=confirm == "yes",
        ask_anyway=was_active, choices=choices, change=change,
        reason=f"{user.name}'s account was deactivated",
        asked=Question(
            question=f"Deactivate {user.name}?",
            details=[
                f"{user.name} ({user.email}, {user.role}) is signed out everywhere and can no "
                "longer sign in; an unused invitation stops working. Their notes and history "
                "stay; you can reactivate the account later.",
            ],
            why="once deactivated",
            action=f"{USERS_URL}/{user.id}/deactivate",
            fields=[("list", list_query)],
            yes="Deactivate",
            back_url=_back_to_list(list_query),
            back_label="No, keep the account",
            no_leads="They have no open leads.",
        ),
    )  # fmt: skip
    if not isinstance(done, Handover):
        return done
    if was_active or done.groups:
        what = "deactivated" if was_active else "open leads handed over"
        what = f"{what}; {done.summary}" if done.groups else what
        staff_audit.note(session, actor=staff.email, by=staff.user_id, target=user.email, what=what)
    said = f"{user.name} ({user.email}): account deactivated; signed out everywhere. {done.said}"
    return redirect(request, _back_to_list(list_query), done=said.strip())


@router.post(f"{USERS_URL}/{{user_id}}/reactivate", response_class=HTMLResponse)
def reactivate(
    request: Request, session: DbSession, staff: AdminCsrf, user_id: str, list_query: ListQuery = ""
) -> Response:
    user = _user_or_404(session, user_id)
    if not user.active:
        user.active = True
        staff_audit.note(
            session, actor=staff.email, by=staff.user_id, target=user.email, what="reactivated"
        )
    return redirect(
        request,
        _back_to_list(list_query),
        done=f"{user.name} ({user.email}): account reactivated; they can sign in again with "
        "their password.",
    )


# --- dealers -----------------------------------------------------------------------------------
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
    choices: HandoverFields,
    dealer: DealerCodes = [],  # noqa: B006 (FastAPI copies defaults)
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """The dealers someone works at, by the rule of `cdp user create --dealer`; open leads at a
    dealer they leave are handed over once the admin confirms."""
    user = _user_or_404(session, user_id)
    codes = dealer or []
    problem = staff_service.dealer_needed(session, user.role, codes)
    try:
        if problem is not None:
            raise InvalidInput(problem, field="dealer")
        works_at: list[Dealer] = dealers.dealers_for_staff(session, role=user.role, codes=codes)
    except CdpError as refusal:
        error = f"Dealers not changed: {refusal.message}."
        return _dealers_page(
            request, session, staff, user, chosen=codes, error=error, status_code=400
        )
    before, after = (
        dealers.dealer_codes_by_user(session, [user.id])[user.id],
        [d.code for d in works_at],
    )
    still = staff_leaving.works_leads_at(
        role=user.role, active=user.active, dealer_ids=[d.id for d in works_at]
    )
    action = f"{USERS_URL}/{user.id}/dealers"
    done = _change_handing_over(
        request, session, staff, user, still=still, confirmed=confirm == "yes", choices=choices,
        change=lambda: dealers.set_staff_dealers(session, user.id, works_at),
        reason=f"{user.name} no longer works at this dealer",
        asked=Question(
            question=f"Change where {user.name} works?",
            details=[
                f"{user.name} ({user.email}, {user.role}) works at "
                f"{staff_audit.dealers_text(before)}; after this at "
                f"{staff_audit.dealers_text(after)}.",
            ],
            why="there",
            action=action,
            fields=[("dealer", code) for code in after],
            yes="Save dealers",
            back_url=action,
            back_label="No, go back",
        ),
    )  # fmt: skip
    if not isinstance(done, Handover):
        return done
    if before != after or done.groups:
        staff_audit.note_dealers(
            session, actor=staff.email, by=staff.user_id, target=user.email, before=before,
            after=after, leads=done.summary,
        )  # fmt: skip
    return redirect(request, f"{USERS_URL}?done=dealers", done=done.said)
