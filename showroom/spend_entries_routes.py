"""Entering spend (/showroom/spend/entries): the entries of a year, added, edited and deleted
(asked once first), imported from a CSV file after a preview, and the margin per sale, the
network's and a dealer's own. Forms come back with every problem marked (status 400). Importer
staff enter the network's and any dealer's spend; a dealer's manager their own dealers'."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.dealers import repository as dealers_repo
from cdp.deps import DbSession
from cdp.errors import CdpError, InvalidInput
from cdp.leads.norms import channel_labels
from cdp.local_time import local_today
from cdp.models import SpendEntry, utcnow
from cdp.spend import importing, repository, service
from cdp.spend.amounts import euros, parse_amount
from cdp.spend.periods import month_label
from cdp.spend.service import SpendForm
from cdp.web import CsrfStaff, confirm_step, id_or_404, not_found, redirect, render, require

router = APIRouter(include_in_schema=False)
SpendStaff = Annotated[StaffContext, Depends(require(Permission.SPEND))]
ENTRIES_URL = "/showroom/spend/entries"
PER_PAGE = 50
MAX_UPLOAD = 1_000_000  # bytes: twenty thousand lines fit several times over
Field = Annotated[str, Form(max_length=2000)]
NOTICES = {
    "added": "Spend added.",
    "saved": "Changes saved.",
    "deleted": "Spend entry deleted.",
    "margin": "Margin per sale saved.",
}


def _spend_with_csrf(staff: SpendStaff, _checked: CsrfStaff) -> StaffContext:
    """Permission first (a clear "no access" page), then the form's CSRF token."""
    return staff


SpendCsrf = Annotated[StaffContext, Depends(_spend_with_csrf)]


def _dealers(session: Session, staff: StaffContext) -> list[tuple[int, str, str]]:
    """The dealers this person enters spend for: (id, code, name)."""
    return [
        (d.id, d.code, d.name)
        for d in dealers_repo.all_dealers(session)
        if staff.scope.sees(d.id) and (d.active or not staff.scope.network)
    ]


def _blank(session: Session, staff: StaffContext) -> dict[str, str]:
    own = _dealers(session, staff)
    return {
        "month": local_today(utcnow()).strftime("%Y-%m"),
        "channel": "",
        "campaign": "",
        "dealer": "" if staff.scope.network or not own else own[0][1],
        "amount": "",
        "note": "",
    }


def _page(
    request: Request,
    session: Session,
    staff: StaffContext,
    *,
    year: int | None = None,
    page: int = 1,
    form: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    margin_problems: dict[str, str] | None = None,
    margin_form: dict[str, str] | None = None,
    upload_problems: list[str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    year = year or local_today(utcnow()).year
    rows, total = repository.entries(
        session,
        scope=staff.scope,
        since=date(year, 1, 1),
        until=date(year + 1, 1, 1),
        offset=(page - 1) * PER_PAGE,
        limit=PER_PAGE,
    )
    known = service.margins(session)
    dealers = _dealers(session, staff)
    return render(
        request,
        "showroom/spend_entries.html",
        {
            "entries": rows,
            "total": total,
            "year": year,
            "years": list(range(local_today(utcnow()).year + 1, 2019, -1)),
            "page": page,
            "pages": max(1, -(-total // PER_PAGE)),
            "codes": repository.dealer_codes(session),
            "dealers": dealers,
            "labels": channel_labels(session),
            "form": form or _blank(session, staff),
            "problems": problems or {},
            "margin_problems": margin_problems or {},
            "margin_form": margin_form or {"dealer": "", "margin": ""},
            "upload_problems": upload_problems or [],
            "notice": notice,
            "network_margin": known.network,
            "dealer_margins": [
                (code, name, known.dealers[dealer_id])
                for dealer_id, code, name in dealers
                if dealer_id in known.dealers
            ],
            "euros": euros,
            "month_label": month_label,
            "network_scope": staff.scope.network,
        },
        status_code=status_code,
        staff=staff,
    )


@router.get(ENTRIES_URL, response_class=HTMLResponse)
def entries_page(
    request: Request,
    session: DbSession,
    staff: SpendStaff,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    done: Annotated[str, Query(max_length=20)] = "",
    added: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    replaced: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
) -> Response:
    notice = NOTICES.get(done)
    if done == "imported" and added is not None and replaced is not None:
        notice = f"Spend imported: {added} added, {replaced} replaced."
    return _page(request, session, staff, year=year, page=page, notice=notice)


def _form(
    month: str, channel: str, campaign: str, dealer: str, amount: str, note: str
) -> SpendForm:
    return SpendForm(month=month, channel=channel, campaign=campaign, dealer=dealer,
                     amount=amount, note=note)  # fmt: skip


@router.post(ENTRIES_URL, response_class=HTMLResponse)
def add(
    request: Request,
    session: DbSession,
    staff: SpendCsrf,
    month: Field = "",
    channel: Field = "",
    campaign: Field = "",
    dealer: Field = "",
    amount: Field = "",
    note: Field = "",
) -> Response:
    typed = _form(month, channel, campaign, dealer, amount, note)
    values, problems = service.check(session, typed, scope=staff.scope)
    if values is not None:
        try:
            service.add_entry(session, values, by_user_id=staff.user_id, actor=staff.email)
        except CdpError as error:  # one for this month, channel, campaign and dealer already
            problems = {error.field or "campaign": error.message}
    if problems or values is None:
        return _page(request, session, staff, form=typed_dict(typed), problems=problems,
                     status_code=400)  # fmt: skip
    return redirect(request, f"{ENTRIES_URL}?done=added&year={values.month.year}")


def typed_dict(form: SpendForm) -> dict[str, str]:
    return {
        "month": form.month,
        "channel": form.channel,
        "campaign": form.campaign,
        "dealer": form.dealer,
        "amount": form.amount,
        "note": form.note,
    }


def _entry_or_404(session: Session, raw: str, staff: StaffContext) -> SpendEntry:
    try:
        return service.entry_in_scope(session, id_or_404(raw, "spend entry"), staff.scope)
    except CdpError as error:
        raise not_found("spend entry") from error


def _form_of(entry: SpendEntry, codes: dict[int, str]) -> dict[str, str]:
    return {
        "month": entry.month.strftime("%Y-%m"),
        "channel": entry.channel,
        "campaign": entry.campaign,
        "dealer": codes.get(entry.dealer_id, "") if entry.dealer_id else "",
        "amount": f"{entry.amount:.2f}".replace(".", ","),
        "note": entry.note or "",
    }


def _edit_page(
    request: Request,
    session: Session,
    staff: StaffContext,
    entry: SpendEntry,
    *,
    form: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    codes = repository.dealer_codes(session)
    return render(
        request,
        "showroom/spend_entry_edit.html",
        {
            "entry": entry,
            "form": form or _form_of(entry, codes),
            "problems": problems or {},
            "dealers": _dealers(session, staff),
            "labels": channel_labels(session),
            "network_scope": staff.scope.network,
            "month_label": month_label,
        },
        status_code=status_code,
        staff=staff,
    )


@router.get(ENTRIES_URL + "/{entry_id}/edit", response_class=HTMLResponse)
def edit_page(request: Request, session: DbSession, staff: SpendStaff, entry_id: str) -> Response:
    return _edit_page(request, session, staff, _entry_or_404(session, entry_id, staff))


@router.post(ENTRIES_URL + "/{entry_id}/edit", response_class=HTMLResponse)
def edit(
    request: Request,
    session: DbSession,
    staff: SpendCsrf,
    entry_id: str,
    month: Field = "",
    channel: Field = "",
    campaign: Field = "",
    dealer: Field = "",
    amount: Field = "",
    note: Field = "",
) -> Response:
    entry = _entry_or_404(session, entry_id, staff)
    typed = _form(month, channel, campaign, dealer, amount, note)
    values, problems = service.check(session, typed, scope=staff.scope)
    if values is not None:
        try:
            service.update_entry(
                session, entry, values, by_user_id=staff.user_id, actor=staff.email
            )
        except CdpError as error:
            problems = {error.field or "campaign": error.message}
    if problems:
        return _edit_page(request, session, staff, entry, form=typed_dict(typed),
                          problems=problems, status_code=400)  # fmt: skip
    return redirect(request, f"{ENTRIES_URL}?done=saved&year={entry.month.year}")


@router.post(ENTRIES_URL + "/{entry_id}/delete", response_class=HTMLResponse)
def delete(
    request: Request,
    session: DbSession,
    staff: SpendCsrf,
    entry_id: str,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    entry = _entry_or_404(session, entry_id, staff)
    year = entry.month.year
    if confirm != "yes":
        labels = channel_labels(session)
        what = f"{labels.get(entry.channel, entry.channel)}"
        if entry.campaign:
            what += f", campaign {entry.campaign}"
        return confirm_step(
            request,
            question=f"Delete {euros(entry.amount)} of spend?",
            details=[
                f"{month_label(entry.month)}: {what}.",
                "The return on spend of that month no longer counts it. This cannot be undone.",
            ],
            action=f"{ENTRIES_URL}/{entry.id}/delete",
            fields={},
            yes="Delete",
            back_url=f"{ENTRIES_URL}?year={year}",
            back_label="No, keep it",
            staff=staff,
        )
    service.delete_entry(session, entry, by_user_id=staff.user_id, actor=staff.email)
    return redirect(request, f"{ENTRIES_URL}?done=deleted&year={year}")


@router.post("/showroom/spend/margins", response_class=HTMLResponse)
def set_margin(
    request: Request,
    session: DbSession,
    staff: SpendCsrf,
    dealer: Field = "",
    margin: Field = "",
) -> Response:
    """The network's margin per sale (no dealer) or a dealer's own; empty removes a dealer's."""
    problems: dict[str, str] = {}
    dealer_id = None
    if dealer.strip():
        found = dealers_repo.dealers_by_code(session, [dealer.strip().upper()]).get(
            dealer.strip().upper()
        )
        if found is None or not staff.scope.sees(found.id):
            problems["margin_dealer"] = "Choose one of your dealers."
        else:
            dealer_id = found.id
    amount = None
    if margin.strip():
        try:
            amount = parse_amount(margin, field="margin")
        except InvalidInput as error:
            problems["margin"] = error.message
    elif dealer_id is None and not problems:
        problems["margin"] = "Give the network's margin per sale in euros, e.g. 1.800."
    if not problems:
        try:
            service.set_margin(session, dealer_id=dealer_id, amount=amount, scope=staff.scope,
                               by_user_id=staff.user_id, actor=staff.email)  # fmt: skip
        except InvalidInput as error:
            problems["margin_dealer" if error.field == "dealer" else "margin"] = error.message
    if problems:
        session.rollback()
        typed = {"dealer": dealer, "margin": margin}
        return _page(request, session, staff, margin_problems=problems, margin_form=typed,
                     status_code=400)  # fmt: skip
    return redirect(request, f"{ENTRIES_URL}?done=margin")


@router.post("/showroom/spend/import", response_class=HTMLResponse)
async def import_file(
    request: Request,
    session: DbSession,
    staff: SpendCsrf,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Read the file and show what it would do (a preview to confirm), or every problem by its
    line; nothing is stored here."""

    def refuse(problems: list[str]) -> Response:
        return _page(request, session, staff, upload_problems=problems, status_code=400)

    if file is None or not file.filename:
        return refuse(["Choose a CSV file to import."])
    raw = await file.read(MAX_UPLOAD + 1)
    if len(raw) > MAX_UPLOAD:
        return refuse([f"The file is larger than {MAX_UPLOAD // 1_000_000} MB."])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return refuse(["The file is not UTF-8 text (save it as CSV UTF-8)."])
    return _preview(request, session, staff, text, file.filename)


def _preview(
    request: Request, session: Session, staff: StaffContext, text: str, filename: str
) -> Response:
    try:
        plan = importing.plan_import(session, text, scope=staff.scope)
    except CdpError as error:
        return _page(request, session, staff, upload_problems=[error.message], status_code=400)
    if plan.problems:
        return _page(request, session, staff, upload_problems=plan.problems, status_code=400)
    return render(
        request,
        "showroom/spend_import.html",
        {
            "plan": plan,
            "csv_text": text,
            "filename": filename,
            "codes": repository.dealer_codes(session),
            "labels": channel_labels(session),
            "euros": euros,
            "month_label": month_label,
        },
        staff=staff,
    )


@router.post("/showroom/spend/import/confirm", response_class=HTMLResponse)
def import_confirmed(
    request: Request,
    session: DbSession,
    staff: SpendCsrf,
    csv_text: Annotated[str, Form(max_length=MAX_UPLOAD)] = "",
    filename: Field = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """The previewed file, checked again (someone may have entered spend meanwhile), stored."""
    if confirm != "yes":
        return _preview(request, session, staff, csv_text, filename)
    try:
        plan = importing.plan_import(session, csv_text, scope=staff.scope)
    except CdpError as error:
        return _page(request, session, staff, upload_problems=[error.message], status_code=400)
    if plan.problems:
        return _page(request, session, staff, upload_problems=plan.problems, status_code=400)
    importing.apply_import(
        session, plan, by_user_id=staff.user_id, actor=staff.email, name=filename or "upload"
    )
    return redirect(
        request, f"{ENTRIES_URL}?done=imported&added={plan.added}&replaced={plan.replaced}"
    )
