"""The showroom tablet pages up to a known customer: start or resume a session, find or add the
customer (asking before anything of theirs changes), and welcome a returning one. Configuring,
the note and the end are in tablet_configure_routes.py.

Every page works with plain form posts; with htmx the configurator's choices swap in as partials.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cdp.deps import DbSession, SettingsDep
from cdp.errors import CdpError, InvalidInput
from cdp.models import TabletSession, utcnow
from cdp.profiles.lookup import lookup
from cdp.tablet import drafts, identity, returning
from cdp.tablet import service as svc
from cdp.web import lookup_dealers, person_or_404, redirect, render
from showroom.tablet_pages import (
    BASE,
    Q,
    TabletCsrf,
    TabletStaff,
    Text,
    error_page,
    frame,
    load_tablet,
    tablet_url,
)

router = APIRouter(include_in_schema=False)


# --- start ------------------------------------------------------------------------------------
@router.get(BASE, response_class=HTMLResponse)
def start_page(request: Request, session: DbSession, staff: TabletStaff) -> Response:
    sessions = svc.open_sessions(session, user_id=staff.user_id)
    kept = drafts.drafts(session, user_id=staff.user_id, now=utcnow())
    names = {t.id: svc.customer_label(session, t.profile_id) for t in [*sessions, *kept]}
    return render(
        request,
        "showroom/tablet/start.html",
        {"sessions": sessions, "drafts": kept, "names": names},
    )


@router.post(f"{BASE}/sessions")
def start(request: Request, session: DbSession, staff: TabletCsrf) -> Response:
    tablet = svc.start_session(session, user_id=staff.user_id, now=utcnow())
    return redirect(request, tablet_url(tablet, "customer"))


@router.get(f"{BASE}/{{session_id}}", response_class=HTMLResponse)
def resume(request: Request, session: DbSession, staff: TabletStaff, session_id: int) -> Response:
    tablet = load_tablet(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    if tablet.ended_at is not None:
        page = "done"
    elif tablet.profile_id is None:
        page = "customer"
    elif _welcome_first(tablet):
        page = "welcome"
    else:
        page = "configure"
    return Response(status_code=303, headers={"Location": tablet_url(tablet, page)})


# --- the customer -----------------------------------------------------------------------------
def _welcome_first(tablet: TabletSession) -> bool:
    """A customer we knew before is welcomed (consent, saved cars) before configuring."""
    return tablet.selection.get("customer") in ("existing", "known") and not tablet.selection.get(
        "welcomed"
    )


def _customer_page(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    tablet: TabletSession,
    *,
    q: str = "",
    form: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
    question: identity.IdentityQuestion | None = None,
    status_code: int = 200,
) -> Response:
    found = (
        lookup(
            session,
            q,
            phone_region=settings.default_phone_region,
            active_at=lookup_dealers(request, request.state.staff),
        )
        if q.strip()
        else None
    )
    return render(
        request,
        "showroom/tablet/customer.html",
        {
            **frame(session, tablet),
            "q": q,
            "found": found,
            "form": form or {"consents": []},
            "problems": problems or {},
            "question": question,
            "field_labels": identity.FIELD_LABELS,
            "wording": svc.CONSENT_WORDING,
        },
        status_code=status_code,
    )


@router.get(f"{BASE}/{{session_id}}/customer", response_class=HTMLResponse)
def customer_page(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    staff: TabletStaff,
    session_id: int,
    q: Q = "",
) -> Response:
    tablet = load_tablet(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    if tablet.ended_at is not None or tablet.profile_id is not None:
        return Response(status_code=303, headers={"Location": tablet_url(tablet)})
    return _customer_page(request, session, settings, tablet, q=q)


@router.get(f"{BASE}/{{session_id}}/customer/search", response_class=HTMLResponse)
def customer_search(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    staff: TabletStaff,
    session_id: int,
    q: Q = "",
) -> Response:
    """The results partial the search box swaps in as the salesperson types."""
    tablet = load_tablet(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    found = (
        lookup(
            session,
            q,
            phone_region=settings.default_phone_region,
            active_at=lookup_dealers(request, staff),
        )
        if q.strip()
        else None
    )
    return render(
        request,
        "showroom/tablet/_customer_results.html",
        {"tablet": tablet, "q": q, "found": found},
    )


@router.post(f"{BASE}/{{session_id}}/customer/existing")
def choose_customer(
    request: Request,
    session: DbSession,
    staff: TabletCsrf,
    session_id: int,
    profile_id: Text = "",
) -> Response:
    tablet = load_tablet(request, session, staff, session_id, change=True)
    if isinstance(tablet, HTMLResponse):
        return tablet
    try:
        pid = uuid.UUID(profile_id.strip())
    except ValueError:
        return error_page(request, InvalidInput("Choose a customer from the search results."))
    person_or_404(request, session, staff, pid)
    try:
        svc.choose_existing_customer(session, tablet, profile_id=pid, now=utcnow())
    except CdpError as error:
        session.rollback()
        return error_page(request, error)
    return redirect(request, tablet_url(tablet, "welcome"))


def _answers(form: dict[str, str]) -> dict[identity.Field, identity.Answer]:
    """The rename question's answers (`answer_<field>`: ours or typed, with `shown_<field>` and
    `shown_typed_<field>`, what the question showed as ours and as typed)."""
    answers: dict[identity.Field, identity.Answer] = {}
    for field in identity.FIELDS:
        choice = form.get(f"answer_{field}", "")
        if choice in ("ours", "typed"):
            answers[field] = identity.Answer(
                "ours" if choice == "ours" else "typed",
                form.get(f"shown_{field}", ""),
                form.get(f"shown_typed_{field}", ""),
            )
    return answers


def _asked_about(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


@router.post(f"{BASE}/{{session_id}}/customer/new")
async def new_customer(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    staff: TabletCsrf,
    session_id: int,
) -> Response:
    tablet = load_tablet(request, session, staff, session_id, change=True)
    if isinstance(tablet, HTMLResponse):
        return tablet
    data = await request.form()
    fields = {
        name: str(data.get(name) or "").strip()
        for name in (
            "first_name",
            "last_name",
            "email",
            "phone",
            "answering",
            *(
                f"{kind}_{f}"
                for kind in ("answer", "shown", "shown_typed")
                for f in identity.FIELDS
            ),
        )
    }
    customer = svc.NewCustomer(
        first_name=fields["first_name"],
        last_name=fields["last_name"],
        email=fields["email"],
        phone=fields["phone"],
        consents=frozenset(str(c) for c in data.getlist("consent") if c),
    )
    form = {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
        "phone": customer.phone,
        "consents": sorted(customer.consents),
        **{name: value for name, value in fields.items() if name.startswith("answer_")},
    }
    problems = svc.check_new_customer(customer, phone_region=settings.default_phone_region)
    question = None
    if not problems:
        try:
            svc.create_customer(
                session,
                tablet,
                customer,
                answers=_answers(fields),
                asked_about=_asked_about(fields["answering"]),
                now=utcnow(),
                phone_region=settings.default_phone_region,
            )
        except identity.IdentityQuestion as asked:
            session.rollback()
            question = asked
            if fields["answering"]:  # sent the question back without choosing, or changed
                problems = {
                    f"answer_{field}": (
                        f"Choose which {identity.FIELD_LABELS[field]} is right."
                        if not fields[f"answer_{field}"]
                        else f"The typed {identity.FIELD_LABELS[field]} changed since you "
                        "chose: choose again."
                    )
                    for field in asked.unanswered
                }
            for field in asked.unanswered:  # an answer to an older question is none
                form.pop(f"answer_{field}", None)
        except CdpError as error:
            session.rollback()
            if error.status_code != 400:
                return error_page(request, error)
            problems = {error.field or "form": error.message}
    if problems or question:
        return _customer_page(
            request,
            session,
            settings,
            tablet,
            form=form,
            problems=problems,
            question=question,
            status_code=400 if problems else 409,
        )
    return redirect(
        request, tablet_url(tablet, "welcome" if _welcome_first(tablet) else "configure")
    )


# --- a returning customer -----------------------------------------------------------------------
def _welcome_page(
    request: Request,
    session: DbSession,
    tablet: TabletSession,
    *,
    form: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    profile_id = svc.live_profile_id(session, tablet)
    assert profile_id is not None
    return render(
        request,
        "showroom/tablet/welcome.html",
        {
            **frame(session, tablet),
            "on_record": returning.consent_on_record(session, profile_id),
            "points": returning.starting_points(session, profile_id),
            "wording": svc.CONSENT_WORDING,
            "form": form or {},
            "problems": problems or {},
            "known_by_form": tablet.selection.get("customer") == "known",
        },
        status_code=status_code,
    )


@router.get(f"{BASE}/{{session_id}}/welcome", response_class=HTMLResponse)
def welcome_page(
    request: Request, session: DbSession, staff: TabletStaff, session_id: int
) -> Response:
    tablet = load_tablet(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    if tablet.ended_at is not None or tablet.profile_id is None:
        return Response(status_code=303, headers={"Location": tablet_url(tablet)})
    return _welcome_page(request, session, tablet)


@router.post(f"{BASE}/{{session_id}}/welcome")
async def welcome(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    staff: TabletCsrf,
    session_id: int,
) -> Response:
    """Record what the customer said to each consent question, and continue from the saved
    configuration tapped (or a new one)."""
    tablet = load_tablet(request, session, staff, session_id, change=True)
    if isinstance(tablet, HTMLResponse):
        return tablet
    data = await request.form()
    answers = {
        purpose: str(data.get(f"consent_{purpose}") or "").strip()
        for purpose in svc.CONSENT_PURPOSES
    }
    addresses = {
        purpose: str(data.get(f"consent_{purpose}_address") or "").strip()
        for purpose in ("email", "phone")
    }
    start_from = str(data.get("start_from") or "").strip()
    form = {f"consent_{purpose}": answer for purpose, answer in answers.items()}
    form |= {f"consent_{purpose}_address": value for purpose, value in addresses.items()}
    now = utcnow()
    try:
        returning.record_consent(
            session,
            tablet,
            answers,
            addresses=addresses,
            now=now,
            phone_region=settings.default_phone_region,
        )
        returning.start_from(
            session, tablet, code=start_from, now=now, phone_region=settings.default_phone_region
        )
    except CdpError as error:
        session.rollback()
        if error.status_code != 400:
            return error_page(request, error)
        session.refresh(tablet)
        problems = {error.field or "form": error.message}
        return _welcome_page(
            request, session, tablet, form=form, problems=problems, status_code=400
        )
    return redirect(request, tablet_url(tablet, "configure"))
