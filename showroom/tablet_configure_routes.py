"""The tablet pages after the customer is known: configure the car (plain posts, or htmx
partials), save it, the closing note, and the end of the session."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cdp import catalogue
from cdp.deps import DbSession, SettingsDep
from cdp.errors import CdpError, InvalidInput
from cdp.forms import parse_choice_bool, parse_int
from cdp.models import TabletSession, utcnow
from cdp.tablet import configuring, drafts
from cdp.tablet import service as svc
from cdp.web import is_htmx, redirect, render
from showroom.tablet_pages import (
    BASE,
    TabletCsrf,
    TabletStaff,
    Text,
    error_page,
    frame,
    load_tablet,
    tablet_url,
)

router = APIRouter(include_in_schema=False)


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
        **frame(session, tablet),
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
        "draft_notice": (
            "This is the car that was not saved: change it or save it."
            if tablet.selection.get("resumed_from") and not tablet.selection.get("saved")
            else None
        ),
    }
    template = "showroom/tablet/_configurator.html" if partial else "showroom/tablet/configure.html"
    return render(request, template, context, status_code=status_code)


@router.get(f"{BASE}/{{session_id}}/configure", response_class=HTMLResponse)
def configure_page(
    request: Request, session: DbSession, staff: TabletStaff, session_id: int
) -> Response:
    tablet = load_tablet(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    if tablet.ended_at is not None or tablet.profile_id is None:
        return Response(status_code=303, headers={"Location": tablet_url(tablet)})
    return _configurator(request, session, tablet)


def _after_choice(
    request: Request, session: DbSession, tablet: TabletSession, error: CdpError | None
) -> Response:
    """A choice made: the configurator partial for htmx, a redirect (PRG) for a plain form."""
    if error is not None:
        session.rollback()
        if error.status_code != 400:
            return error_page(request, error)
        return _configurator(
            request, session, tablet, error=error.message, status_code=400, partial=is_htmx(request)
        )
    if is_htmx(request):
        return _configurator(request, session, tablet, partial=True)
    return Response(status_code=303, headers={"Location": tablet_url(tablet, "configure")})


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
    tablet = load_tablet(request, session, staff, session_id, change=True)
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
    tablet = load_tablet(request, session, staff, session_id, change=True)
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
    tablet = load_tablet(request, session, staff, session_id, change=True)
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
    tablet = load_tablet(request, session, staff, session_id, change=True)
    if isinstance(tablet, HTMLResponse):
        return tablet
    try:
        configuring.save_configuration(
            session, tablet, now=utcnow(), phone_region=settings.default_phone_region
        )
    except CdpError as error:
        return _after_choice(request, session, tablet, error)
    return redirect(request, tablet_url(tablet, "saved"))


@router.get(f"{BASE}/{{session_id}}/saved", response_class=HTMLResponse)
def saved_page(
    request: Request, session: DbSession, staff: TabletStaff, session_id: int
) -> Response:
    tablet = load_tablet(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    codes = list(tablet.selection.get("saved", []))
    selection = configuring.selection_of(tablet)
    if not codes or selection is None:
        return Response(status_code=303, headers={"Location": tablet_url(tablet)})
    return render(
        request,
        "showroom/tablet/saved.html",
        {
            **frame(session, tablet),
            "code": codes[-1],
            "summary": configuring.summary_of(selection),
        },
    )


def _model_name(tablet: TabletSession) -> str | None:
    selection = configuring.selection_of(tablet)
    return configuring.summary_of(selection).model.name if selection else None


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
    "licence_plate",
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
            **frame(session, tablet),
            "form": form or {},
            "problems": problems or {},
            "unsaved": drafts.has_unsaved_car(tablet),
        },
        status_code=status_code,
    )


@router.get(f"{BASE}/{{session_id}}/note", response_class=HTMLResponse)
def note_page(
    request: Request, session: DbSession, staff: TabletStaff, session_id: int
) -> Response:
    tablet = load_tablet(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    if tablet.ended_at is not None or tablet.profile_id is None:
        return Response(status_code=303, headers={"Location": tablet_url(tablet)})
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
        licence_plate=text("licence_plate"),
        financing_interest=parse_choice_bool(form.get("financing"), field_name="financing"),
        competitor=text("competitor"),
        model_direction=text("model_direction"),
        text=text("text"),
    )


@router.post(f"{BASE}/{{session_id}}/note")
async def save_note(
    request: Request, session: DbSession, staff: TabletCsrf, session_id: int
) -> Response:
    tablet = load_tablet(request, session, staff, session_id, change=True)
    if isinstance(tablet, HTMLResponse):
        return tablet
    data = await request.form()
    form = {name: str(data.get(name) or "").strip() for name in NOTE_FIELDS}
    now = utcnow()
    try:
        note = _parse_note(form, now_year=now.year)
        drafts.finish_with_note_keeping_draft(session, tablet, note, user_id=staff.user_id, now=now)
    except CdpError as error:
        session.rollback()
        if error.status_code != 400:
            return error_page(request, error)
        return _note_page(
            request,
            session,
            tablet,
            form=form,
            problems={error.field or "text": error.message},
            status_code=400,
        )
    return redirect(request, tablet_url(tablet, "done"))


@router.post(f"{BASE}/{{session_id}}/end")
def end(
    request: Request,
    session: DbSession,
    staff: TabletCsrf,
    session_id: int,
    confirm: Text = "",
) -> Response:
    """End the session. With a car not saved, ask once first (a server-rendered step, so it
    works without JS); ending then keeps the car as a draft to resume."""
    tablet = load_tablet(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    if tablet.ended_at is None and drafts.has_unsaved_car(tablet) and confirm != "yes":
        selection = configuring.selection_of(tablet)
        return render(
            request,
            "showroom/tablet/end_confirm.html",
            {
                **frame(session, tablet),
                "summary": configuring.summary_of(selection) if selection else None,
            },
        )
    drafts.end_keeping_draft(session, tablet, now=utcnow())
    return redirect(request, tablet_url(tablet, "done"))


@router.post(f"{BASE}/{{session_id}}/resume")
def resume_draft(
    request: Request, session: DbSession, staff: TabletCsrf, session_id: int
) -> Response:
    """Continue an unsaved car in a new session for the same customer."""
    tablet = load_tablet(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    try:
        resumed = drafts.resume_draft(session, tablet, user_id=staff.user_id, now=utcnow())
    except CdpError as error:
        session.rollback()
        return error_page(request, error)
    return redirect(request, tablet_url(resumed, "configure"))


@router.get(f"{BASE}/{{session_id}}/done", response_class=HTMLResponse)
def done_page(
    request: Request, session: DbSession, staff: TabletStaff, session_id: int
) -> Response:
    tablet = load_tablet(request, session, staff, session_id, change=False)
    if isinstance(tablet, HTMLResponse):
        return tablet
    if tablet.ended_at is None:
        return Response(status_code=303, headers={"Location": tablet_url(tablet)})
    return render(
        request,
        "showroom/tablet/done.html",
        {
            **frame(session, tablet),
            "saved": list(tablet.selection.get("saved", [])),
            "noted": bool(tablet.selection.get("noted")),
            "draft": tablet.selection.get("draft") is True,
            "resumed_into": tablet.selection.get("resumed_into"),
            "model_name": _model_name(tablet),
        },
    )
