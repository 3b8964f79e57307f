"""The showroom tablet pages: start, find or add the customer, configure, save, note, done.

Every page works with plain form posts; with htmx the configurator's choices swap in as partials.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from cdp import catalogue
from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession, SettingsDep
from cdp.errors import CdpError, InvalidInput
from cdp.forms import parse_choice_bool, parse_int
from cdp.leads.labels import OPTIONS
from cdp.models import TabletSession, utcnow
from cdp.profiles.lookup import lookup
from cdp.tablet import configuring, identity, returning
from cdp.tablet import service as svc
from cdp.web import CsrfStaff, is_htmx, redirect, render, require

router = APIRouter(include_in_schema=False)
_tablet = require(Permission.TABLET)
TabletStaff = Annotated[StaffContext, Depends(_tablet)]


def _tablet_csrf(staff: CsrfStaff) -> StaffContext:
    return _tablet(staff)


TabletCsrf = Annotated[StaffContext, Depends(_tablet_csrf)]
Q = Annotated[str, Query(max_length=200)]
Text = Annotated[str, Form()]

BASE = "/showroom/tablet"


def _url(tablet: TabletSession, page: str = "") -> str:
    return f"{BASE}/{tablet.id}" + (f"/{page}" if page else "")


def _error_page(request: Request, error: CdpError) -> HTMLResponse:
    return render(
        request,
        "showroom/tablet/error.html",
        {"message": error.message, "status": error.status_code},
        status_code=error.status_code,
    )


def _load(
    request: Request, session: DbSession, staff: StaffContext, session_id: int, *, change: bool
) -> TabletSession | HTMLResponse:
    try:
        return svc.get_session(session, session_id, user_id=staff.user_id, for_change=change)
    except CdpError as error:
        return _error_page(request, error)


def _frame(session: DbSession, tablet: TabletSession) -> dict[str, Any]:
    """What every session screen shows in its bar: whose session, for whom."""
    return {
        "tablet": tablet,
        "customer_id": svc.live_profile_id(session, tablet),
        "customer_name": svc.customer_label(session, tablet.profile_id),
    }


# --- start ------------------------------------------------------------------------------------
@router.get(BASE, response_class=HTMLResponse)
def start_page(request: Request, session: DbSession, staff: TabletStaff) -> Response:
    sessions = svc.open_sessions(session, user_id=staff.user_id)
    names = {t.id: svc.customer_label(session, t.profile_id) for t in sessions}
    return render(request, "showroom/tablet/start.html", {"sessions": sessions, "names": names})


@router.post(f"{BASE}/sessions")
def start(request: Request, session: DbSession, staff: TabletCsrf) -> Response:
    tablet = svc.start_session(session, user_id=staff.user_id, now=utcnow())
    return redirect(request, _url(tablet, "customer"))


@router.get(f"{BASE}/{{session_id}}", response_class=HTMLResponse)
def resume(request: Request, session: DbSession, staff: TabletStaff, session_id: int) -> Response:
    tablet = _load(request, session, staff, session_id, change=False)
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
    return Response(status_code=303, headers={"Location": _url(tablet, page)})


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
    found = lookup(session, q, phone_region=settings.default_phone_region) if q.strip() else None
    return render(
        request,
        "showroom/tablet/customer.html",
        {
            **_frame(session, tablet),
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
    tablet = _load(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    if tablet.ended_at is not None or tablet.profile_id is not None:
        return Response(status_code=303, headers={"Location": _url(tablet)})
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
    tablet = _load(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    found = lookup(session, q, phone_region=settings.default_phone_region) if q.strip() else None
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
    tablet = _load(request, session, staff, session_id, change=True)
    if isinstance(tablet, HTMLResponse):
        return tablet
    try:
        pid = uuid.UUID(profile_id.strip())
    except ValueError:
        return _error_page(request, InvalidInput("Choose a customer from the search results."))
    try:
        svc.choose_existing_customer(session, tablet, profile_id=pid, now=utcnow())
    except CdpError as error:
        session.rollback()
        return _error_page(request, error)
    return redirect(request, _url(tablet, "welcome"))


def _answers(form: dict[str, str]) -> dict[identity.Field, identity.Answer]:
    """The rename question's answers (`answer_<field>`: ours or typed, with `shown_<field>`,
    what the question showed as ours)."""
    answers: dict[identity.Field, identity.Answer] = {}
    for field in identity.FIELDS:
        choice = form.get(f"answer_{field}", "")
        if choice in ("ours", "typed"):
            answers[field] = identity.Answer(
                "ours" if choice == "ours" else "typed", form.get(f"shown_{field}", "")
            )
    return answers


@router.post(f"{BASE}/{{session_id}}/customer/new")
async def new_customer(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    staff: TabletCsrf,
    session_id: int,
) -> Response:
    tablet = _load(request, session, staff, session_id, change=True)
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
            *(f"{kind}_{f}" for kind in ("answer", "shown") for f in identity.FIELDS),
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
                now=utcnow(),
                phone_region=settings.default_phone_region,
            )
        except identity.IdentityQuestion as asked:
            session.rollback()
            question = asked
            if fields["answering"]:  # sent the question back without choosing
                problems = {
                    f"answer_{field}": f"Choose which {identity.FIELD_LABELS[field]} is right."
                    for field in asked.unanswered
                }
        except CdpError as error:
            session.rollback()
            if error.status_code != 400:
                return _error_page(request, error)
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
    return redirect(request, _url(tablet, "welcome" if _welcome_first(tablet) else "configure"))


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
            **_frame(session, tablet),
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
    tablet = _load(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    if tablet.ended_at is not None or tablet.profile_id is None:
        return Response(status_code=303, headers={"Location": _url(tablet)})
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
    tablet = _load(request, session, staff, session_id, change=True)
    if isinstance(tablet, HTMLResponse):
        return tablet
    data = await request.form()
    answers = {
        purpose: str(data.get(f"consent_{purpose}") or "").strip()
        for purpose in svc.CONSENT_PURPOSES
    }
    start_from = str(data.get("start_from") or "").strip()
    form = {f"consent_{purpose}": answer for purpose, answer in answers.items()}
    now = utcnow()
    try:
        returning.record_consent(
            session, tablet, answers, now=now, phone_region=settings.default_phone_region
        )
        returning.start_from(
            session, tablet, code=start_from, now=now, phone_region=settings.default_phone_region
        )
    except CdpError as error:
        session.rollback()
        if error.status_code != 400:
            return _error_page(request, error)
        session.refresh(tablet)
        problems = {error.field or "form": error.message}
        return _welcome_page(
            request, session, tablet, form=form, problems=problems, status_code=400
        )
    return redirect(request, _url(tablet, "configure"))


# --- configuring ------------------------------------------------------------------------------
def _configurator(
    request: Request,
    session: DbSession,
    tablet: TabletSession,
    *,
    error: str | None = None,
    status_code: int = 200,
    partial: bool = False,
) -> Response:
    selection = configuring.selection_of(tablet)
    step = str(tablet.selection.get("step") or "model")
    if selection is None:
        step = "model"
    context = {
        **_frame(session, tablet),
        "step": step,
        "steps": configuring.STEPS,
        "models": catalogue.MODELS,
        "summary": configuring.summary_of(selection) if selection else None,
        "fuels_of": configuring.fuels_of,
        "error": error,
        "based_on": tablet.selection.get("based_on"),
        "notice": (
            "This e-mail address or phone number was already known: the session continues on "
            "that customer's profile."
            if tablet.selection.get("customer") == "known"
            else None
        ),
    }
    template = "showroom/tablet/_configurator.html" if partial else "showroom/tablet/configure.html"
    return render(request, template, context, status_code=status_code)


@router.get(f"{BASE}/{{session_id}}/configure", response_class=HTMLResponse)
def configure_page(
    request: Request, session: DbSession, staff: TabletStaff, session_id: int
) -> Response:
    tablet = _load(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    if tablet.ended_at is not None or tablet.profile_id is None:
        return Response(status_code=303, headers={"Location": _url(tablet)})
    return _configurator(request, session, tablet)


def _after_choice(
    request: Request, session: DbSession, tablet: TabletSession, error: CdpError | None
) -> Response:
    """A choice made: the configurator partial for htmx, a redirect (PRG) for a plain form."""
    if error is not None:
        session.rollback()
        if error.status_code != 400:
            return _error_page(request, error)
        return _configurator(
            request, session, tablet, error=error.message, status_code=400, partial=is_htmx(request)
        )
    if is_htmx(request):
        return _configurator(request, session, tablet, partial=True)
    return Response(status_code=303, headers={"Location": _url(tablet, "configure")})


@router.post(f"{BASE}/{{session_id}}/choose")
def choose(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    staff: TabletCsrf,
    session_id: int,
    step: Text = "",
    code: Text = "",
) -> Response:
    tablet = _load(request, session, staff, session_id, change=True)
    if isinstance(tablet, HTMLResponse):
        return tablet
    try:
        configuring.choose(
            session,
            tablet,
            step=step.strip(),
            code=code.strip(),
            now=utcnow(),
            phone_region=settings.default_phone_region,
        )
    except CdpError as error:
        return _after_choice(request, session, tablet, error)
    return _after_choice(request, session, tablet, None)


@router.post(f"{BASE}/{{session_id}}/pack")
def pack(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    staff: TabletCsrf,
    session_id: int,
    add: Text = "",
    remove: Text = "",
) -> Response:
    tablet = _load(request, session, staff, session_id, change=True)
    if isinstance(tablet, HTMLResponse):
        return tablet
    try:
        if bool(add) == bool(remove):
            raise InvalidInput("Tap a pack to add or remove it.", field="pack")
        configuring.set_pack(
            session,
            tablet,
            code=(add or remove).strip(),
            add=bool(add),
            now=utcnow(),
            phone_region=settings.default_phone_region,
        )
    except CdpError as error:
        return _after_choice(request, session, tablet, error)
    return _after_choice(request, session, tablet, None)


@router.post(f"{BASE}/{{session_id}}/step")
def step(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    staff: TabletCsrf,
    session_id: int,
    step: Text = "",
) -> Response:
    tablet = _load(request, session, staff, session_id, change=True)
    if isinstance(tablet, HTMLResponse):
        return tablet
    try:
        configuring.view_step(
            session,
            tablet,
            step=step.strip(),
            now=utcnow(),
            phone_region=settings.default_phone_region,
        )
    except CdpError as error:
        return _after_choice(request, session, tablet, error)
    return _after_choice(request, session, tablet, None)


@router.post(f"{BASE}/{{session_id}}/save")
def save(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    staff: TabletCsrf,
    session_id: int,
) -> Response:
    tablet = _load(request, session, staff, session_id, change=True)
    if isinstance(tablet, HTMLResponse):
        return tablet
    try:
        configuring.save_configuration(
            session, tablet, now=utcnow(), phone_region=settings.default_phone_region
        )
    except CdpError as error:
        return _after_choice(request, session, tablet, error)
    return redirect(request, _url(tablet, "saved"))


@router.get(f"{BASE}/{{session_id}}/saved", response_class=HTMLResponse)
def saved_page(
    request: Request, session: DbSession, staff: TabletStaff, session_id: int
) -> Response:
    tablet = _load(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    codes = list(tablet.selection.get("saved", []))
    selection = configuring.selection_of(tablet)
    if not codes or selection is None:
        return Response(status_code=303, headers={"Location": _url(tablet)})
    return render(
        request,
        "showroom/tablet/saved.html",
        {
            **_frame(session, tablet),
            "code": codes[-1],
            "summary": configuring.summary_of(selection),
        },
    )


# --- the note, and the end ----------------------------------------------------------------------
NOTE_FIELDS = (
    "interest_level",
    "budget_band",
    "timeframe",
    "financing",
    "model_direction",
    "trade_in_make",
    "trade_in_model",
    "trade_in_year",
    "trade_in_km",
    "competitor",
    "text",
)


def _note_page(
    request: Request,
    session: DbSession,
    tablet: TabletSession,
    *,
    form: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "showroom/tablet/note.html",
        {
            **_frame(session, tablet),
            "form": form or {},
            "problems": problems or {},
            "options": OPTIONS,
        },
        status_code=status_code,
    )


@router.get(f"{BASE}/{{session_id}}/note", response_class=HTMLResponse)
def note_page(
    request: Request, session: DbSession, staff: TabletStaff, session_id: int
) -> Response:
    tablet = _load(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    if tablet.ended_at is not None or tablet.profile_id is None:
        return Response(status_code=303, headers={"Location": _url(tablet)})
    return _note_page(request, session, tablet)


def _parse_note(form: dict[str, str], *, now_year: int) -> svc.NoteInput:
    def text(name: str) -> str | None:
        return form.get(name) or None

    return svc.NoteInput(
        interest_level=text("interest_level"),
        budget_band=text("budget_band"),
        timeframe=text("timeframe"),
        trade_in_make=text("trade_in_make"),
        trade_in_model=text("trade_in_model"),
        trade_in_year=parse_int(
            form.get("trade_in_year"),
            field_name="trade_in_year",
            label="The trade-in year",
            low=1950,
            high=now_year + 1,
        ),
        trade_in_km=parse_int(
            form.get("trade_in_km"),
            field_name="trade_in_km",
            label="The trade-in mileage",
            low=0,
            high=2_000_000,
        ),
        financing_interest=parse_choice_bool(form.get("financing"), field_name="financing"),
        competitor=text("competitor"),
        model_direction=text("model_direction"),
        text=text("text"),
    )


@router.post(f"{BASE}/{{session_id}}/note")
async def save_note(
    request: Request, session: DbSession, staff: TabletCsrf, session_id: int
) -> Response:
    tablet = _load(request, session, staff, session_id, change=True)
    if isinstance(tablet, HTMLResponse):
        return tablet
    data = await request.form()
    form = {name: str(data.get(name) or "").strip() for name in NOTE_FIELDS}
    now = utcnow()
    try:
        note = _parse_note(form, now_year=now.year)
        svc.finish_with_note(session, tablet, note, user_id=staff.user_id, now=now)
    except CdpError as error:
        session.rollback()
        if error.status_code != 400:
            return _error_page(request, error)
        return _note_page(
            request,
            session,
            tablet,
            form=form,
            problems={error.field or "text": error.message},
            status_code=400,
        )
    return redirect(request, _url(tablet, "done"))


@router.post(f"{BASE}/{{session_id}}/end")
def end(request: Request, session: DbSession, staff: TabletCsrf, session_id: int) -> Response:
    tablet = _load(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    svc.end_session(session, tablet, now=utcnow())
    return redirect(request, _url(tablet, "done"))


@router.get(f"{BASE}/{{session_id}}/done", response_class=HTMLResponse)
def done_page(
    request: Request, session: DbSession, staff: TabletStaff, session_id: int
) -> Response:
    tablet = _load(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    if tablet.ended_at is None:
        return Response(status_code=303, headers={"Location": _url(tablet)})
    return render(
        request,
        "showroom/tablet/done.html",
        {
            **_frame(session, tablet),
            "saved": list(tablet.selection.get("saved", [])),
            "noted": bool(tablet.selection.get("noted")),
        },
    )
