"""The dealers admin page (/admin/dealers): the network's dealers listed, added, edited,
deactivated and reactivated (each asked once first), and a CSV file imported with the same
importer as `cdp dealer import`. Forms come back with every problem marked (status 400); a
postal-code area another active dealer serves is one of them, and an area inside another
dealer's area is asked about on the form before it is saved (cdp/dealers/areas.py). Every
change is recorded in the audit trail (action "dealer")."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.dealers import importing, service
from cdp.dealers.areas import Takeover
from cdp.dealers.schemas import DealerFields
from cdp.deps import DbSession
from cdp.errors import CdpError
from cdp.models import Dealer
from cdp.web import CsrfStaff, confirm_step, not_found, redirect, render, require

router = APIRouter(include_in_schema=False)
DealersStaff = Annotated[StaffContext, Depends(require(Permission.DEALERS))]

DEALERS_URL = "/admin/dealers"
PER_PAGE = 50
MAX_UPLOAD = 1_000_000  # bytes: a CSV of thousands of dealers fits many times over
# Bounds what a form field may send at all; the service's own limits give the messages.
Field = Annotated[str, Form(max_length=2000)]
NOTICES = {
    "created": "Dealer added.",
    "saved": "Changes saved.",
    "deactivated": "Dealer deactivated: no new leads go to it. Its staff and history stay.",
    "reactivated": "Dealer reactivated.",
    "imported": "Dealers imported.",
}
TIME_ZONES = (
    "Europe/Amsterdam",
    "Europe/Brussels",
    "Europe/Luxembourg",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/London",
)


def _dealers_with_csrf(staff: DealersStaff, _checked: CsrfStaff) -> StaffContext:
    """Permission first (a clear "no access" page), then the form's CSRF token."""
    return staff


DealersCsrf = Annotated[StaffContext, Depends(_dealers_with_csrf)]


def _blank() -> dict[str, str]:
    return {
        "code": "",
        "name": "",
        "address": "",
        "postal_code": "",
        "city": "",
        "country": "NL",
        "phone": "",
        "time_zone": "",
        "opening_hours": "",
        "postal_areas": "",
    }


def _form_of(dealer: Dealer) -> dict[str, str]:
    return {
        "code": dealer.code,
        "name": dealer.name,
        "address": dealer.address or "",
        "postal_code": dealer.postal_code or "",
        "city": dealer.city or "",
        "country": dealer.country,
        "phone": dealer.phone or "",
        "time_zone": dealer.time_zone or "",
        "opening_hours": dealer.opening_hours or "",
        "postal_areas": ", ".join(dealer.postal_areas),
    }


def _actor(staff: StaffContext) -> service.Actor:
    return service.Actor(staff.email, staff.user_id)


def _phone_region(request: Request) -> str:
    return str(request.app.state.settings.default_phone_region)


def _asked(takeovers: list[Takeover], confirmed: str) -> list[Takeover]:
    """The areas taking leads from another dealer that the form has not confirmed yet (the
    areas the confirming button named: an area typed since is asked about again)."""
    agreed = set(confirmed.upper().split())
    if all(t.area in agreed for t in takeovers):
        return []
    return takeovers  # each of them asked about again, the one not confirmed among them


def _question(takeovers: list[Takeover]) -> dict[str, object]:
    return {
        "takeovers": [t.sentence() for t in takeovers],
        "takeover_areas": " ".join(t.area for t in takeovers),
    }


def _list_page(
    request: Request,
    session: Session,
    staff: StaffContext,
    *,
    page: int = 1,
    form: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    upload_problems: list[str] | None = None,
    notice: str | None = None,
    refusal: str | None = None,
    takeovers: list[Takeover] | None = None,
    status_code: int = 200,
) -> Response:
    dealers = service.all_dealers(session)
    pages = max(1, -(-len(dealers) // PER_PAGE))
    page = min(max(page, 1), pages)
    return render(
        request,
        "admin/dealers/list.html",
        {
            "dealers": dealers[(page - 1) * PER_PAGE : page * PER_PAGE],
            "total": len(dealers),
            "page": page,
            "pages": pages,
            "staff_counts": service.staff_counts(session),
            "form": form or _blank(),
            "problems": problems or {},
            "upload_problems": upload_problems or [],
            "notice": notice,
            "refusal": refusal,
            "time_zones": TIME_ZONES,
            **_question(takeovers or []),
        },
        status_code=status_code,
        staff=staff,
    )


def _dealer_or_404(session: Session, code: str) -> Dealer:
    try:
        return service.dealer_by_code(session, code)
    except CdpError as error:
        raise not_found("dealer") from error


@router.get(DEALERS_URL, response_class=HTMLResponse)
def dealers_page(
    request: Request,
    session: DbSession,
    staff: DealersStaff,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    done: Annotated[str, Query(max_length=20)] = "",
    created: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    updated: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
) -> Response:
    notice = NOTICES.get(done)
    if done == "imported" and created is not None and updated is not None:
        notice = f"Dealers imported: {created} added, {updated} updated."
    return _list_page(request, session, staff, page=page, notice=notice)


def _fields(form: dict[str, str], *, active: bool = True) -> DealerFields:
    return DealerFields(**form, active=active)


@router.post(DEALERS_URL, response_class=HTMLResponse)
def create(
    request: Request,
    session: DbSession,
    staff: DealersCsrf,
    code: Field = "",
    name: Field = "",
    address: Field = "",
    postal_code: Field = "",
    city: Field = "",
    country: Field = "",
    phone: Field = "",
    time_zone: Field = "",
    opening_hours: Field = "",
    postal_areas: Field = "",
    takeover: Field = "",
) -> Response:
    form = {
        "code": code,
        "name": name,
        "address": address,
        "postal_code": postal_code,
        "city": city,
        "country": country,
        "phone": phone,
        "time_zone": time_zone,
        "opening_hours": opening_hours,
        "postal_areas": postal_areas,
    }
    fields = _fields(form)
    region = _phone_region(request)
    problems = service.dealer_problems(fields, phone_region=region, session=session)
    if not problems:
        asked = _asked(service.area_takeovers(session, fields), takeover)
        if asked:
            return _list_page(request, session, staff, form=form, takeovers=asked)
        try:
            service.create_dealer(session, fields, phone_region=region, actor=_actor(staff))
        except CdpError as error:  # a code already taken
            session.rollback()
            problems = {error.field or "code": error.message}
    if problems:
        return _list_page(request, session, staff, form=form, problems=problems, status_code=400)
    return redirect(request, f"{DEALERS_URL}?done=created")


def _edit_page(
    request: Request,
    staff: StaffContext,
    dealer: Dealer,
    *,
    form: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    takeovers: list[Takeover] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/dealers/edit.html",
        {
            "dealer": dealer,
            "form": form or _form_of(dealer),
            "problems": problems or {},
            "time_zones": TIME_ZONES,
            **_question(takeovers or []),
        },
        status_code=status_code,
        staff=staff,
    )


@router.get(f"{DEALERS_URL}/{{code}}/edit", response_class=HTMLResponse)
def edit_page(request: Request, session: DbSession, staff: DealersStaff, code: str) -> Response:
    return _edit_page(request, staff, _dealer_or_404(session, code))


@router.post(f"{DEALERS_URL}/{{code}}/edit", response_class=HTMLResponse)
def edit(
    request: Request,
    session: DbSession,
    staff: DealersCsrf,
    code: str,
    name: Field = "",
    address: Field = "",
    postal_code: Field = "",
    city: Field = "",
    country: Field = "",
    phone: Field = "",
    time_zone: Field = "",
    opening_hours: Field = "",
    postal_areas: Field = "",
    takeover: Field = "",
) -> Response:
    dealer = _dealer_or_404(session, code)
    form = {
        "code": dealer.code,
        "name": name,
        "address": address,
        "postal_code": postal_code,
        "city": city,
        "country": country,
        "phone": phone,
        "time_zone": time_zone,
        "opening_hours": opening_hours,
        "postal_areas": postal_areas,
    }
    fields = _fields(form, active=dealer.active)
    region = _phone_region(request)
    problems = service.dealer_problems(
        fields, with_code=False, phone_region=region, session=session
    )
    if problems:
        return _edit_page(request, staff, dealer, form=form, problems=problems, status_code=400)
    asked = _asked(service.area_takeovers(session, fields, dealer=dealer), takeover)
    if asked:
        return _edit_page(request, staff, dealer, form=form, takeovers=asked)
    service.update_dealer(session, dealer, fields, phone_region=region, actor=_actor(staff))
    return redirect(request, f"{DEALERS_URL}?done=saved")


@router.post(f"{DEALERS_URL}/{{code}}/deactivate", response_class=HTMLResponse)
def deactivate(
    request: Request,
    session: DbSession,
    staff: DealersCsrf,
    code: str,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    dealer = _dealer_or_404(session, code)
    if dealer.active and confirm != "yes":
        return confirm_step(
            request,
            question=f"Deactivate {dealer.name} ({dealer.code})?",
            details=[
                "No new leads are routed to it, and it is no longer the dealer new staff join "
                "without being told.",
                "Its staff keep their accounts; its leads, appointments and history stay and "
                "still count in the network view. You can reactivate it later.",
            ],
            action=f"{DEALERS_URL}/{dealer.code}/deactivate",
            fields={},
            yes="Deactivate",
            back_url=DEALERS_URL,
            back_label="No, keep it active",
            staff=staff,
        )
    service.set_active(session, dealer, False, actor=_actor(staff))
    return redirect(request, f"{DEALERS_URL}?done=deactivated")


@router.post(f"{DEALERS_URL}/{{code}}/reactivate", response_class=HTMLResponse)
def reactivate(
    request: Request,
    session: DbSession,
    staff: DealersCsrf,
    code: str,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    dealer = _dealer_or_404(session, code)
    clashes = [] if dealer.active else service.reactivation_clashes(session, dealer)
    if clashes:
        refusal = (
            f"{dealer.name} ({dealer.code}) was not reactivated: {service.clash_message(clashes)}."
        )
        return _list_page(request, session, staff, refusal=refusal, status_code=409)
    if not dealer.active and confirm != "yes":
        taken = service.reactivation_takeovers(session, dealer)
        return confirm_step(
            request,
            question=f"Reactivate {dealer.name} ({dealer.code})?",
            details=[
                "New leads for its postal-code areas are routed to it again.",
                *(f"{t.sentence('it')}." for t in taken),
            ],
            action=f"{DEALERS_URL}/{dealer.code}/reactivate",
            fields={},
            yes="Reactivate",
            back_url=DEALERS_URL,
            back_label="No, keep it inactive",
            staff=staff,
        )
    service.set_active(session, dealer, True, actor=_actor(staff))
    return redirect(request, f"{DEALERS_URL}?done=reactivated")


@router.post(f"{DEALERS_URL}/import", response_class=HTMLResponse)
async def import_file(
    request: Request,
    session: DbSession,
    staff: DealersCsrf,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Every line is checked before any is stored; every mistake is listed by its line."""

    def refuse(problems: list[str]) -> Response:
        session.rollback()
        return _list_page(request, session, staff, upload_problems=problems, status_code=400)

    if file is None or not file.filename:
        return refuse(["Choose a CSV file to import."])
    raw = await file.read(MAX_UPLOAD + 1)
    if len(raw) > MAX_UPLOAD:
        return refuse([f"The file is larger than {MAX_UPLOAD // 1_000_000} MB."])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return refuse(["The file is not UTF-8 text (save it as CSV UTF-8)."])
    return _import(request, session, staff, text, file.filename, confirmed=False)


@router.post(f"{DEALERS_URL}/import/confirm", response_class=HTMLResponse)
def import_confirmed(
    request: Request,
    session: DbSession,
    staff: DealersCsrf,
    csv_text: Annotated[str, Form(max_length=MAX_UPLOAD)] = "",
    filename: Field = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """A file whose areas take leads from other dealers, imported once that was confirmed
    (checked again: the network may have changed meanwhile)."""
    return _import(request, session, staff, csv_text, filename, confirmed=confirm == "yes")


def _import(
    request: Request,
    session: Session,
    staff: StaffContext,
    text: str,
    filename: str,
    *,
    confirmed: bool,
) -> Response:
    region = _phone_region(request)
    try:
        checked = importing.check_file(session, io.StringIO(text, newline=""), phone_region=region)
    except importing.FileProblems as error:
        return _list_page(request, session, staff, upload_problems=error.problems, status_code=400)
    except CdpError as error:
        return _list_page(request, session, staff, upload_problems=[error.message], status_code=400)
    if checked.takeovers and not confirmed:
        return render(
            request,
            "admin/dealers/import_confirm.html",
            {"takeovers": checked.takeovers, "csv_text": text, "filename": filename},
            staff=staff,
        )
    result = importing.import_dealers(
        session,
        io.StringIO(text, newline=""),
        actor=_actor(staff),
        name=filename,
        phone_region=region,
    )
    return redirect(
        request, f"{DEALERS_URL}?done=imported&created={result.created}&updated={result.updated}"
    )
