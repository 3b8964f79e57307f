"""The audit page (/admin/audit): who viewed, exported, edited or erased which profile, and every
sign-in; filtered by staff member, action, profile and day, a page at a time or as CSV.

Only roles with the AUDIT permission (admins) see it. Filters travel in the query string, so a
filtered view can be bookmarked and its CSV link downloads exactly what the page lists.
"""

from __future__ import annotations

import csv
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from cdp.audit import repository as audit_repo
from cdp.audit.repository import AuditFilter
from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.csv_cells import neutralise
from cdp.deps import DbSession
from cdp.errors import CdpError, InvalidInput
from cdp.forms import parse_date, parse_id
from cdp.models import AUDIT_ACTIONS, utcnow
from cdp.web import render, require

router = APIRouter(include_in_schema=False)
AuditStaff = Annotated[StaffContext, Depends(require(Permission.AUDIT))]

AUDIT_URL = "/admin/audit"
PER_PAGE = 50
SPOOL_IN_MEMORY = 1024 * 1024
ACTION_LABELS = {
    "view": "Opened customer page",
    "api_read": "Read profile (API)",
    "export": "Exported contacts (CSV)",
    "subject_access": "Copied a person's data",
    "erasure": "Erased a person",
    "lead_edit": "Changed a lead",
    "note": "Wrote a note",
    "consent": "Recorded consent",
    "sign_in": "Signed in",
    "sign_in_failed": "Sign-in failed",
    "norms": "Changed channel names or norms",
    "spend": "Entered, changed or imported spend, or set a margin",
    "plan": "Saved or deleted a sales plan",
    "staff": "Invited staff or changed an account (role, dealers, active)",
    "dealer": "Added, changed, (de)activated or imported dealers",
}
FILTER_FIELDS = ("staff", "action", "profile", "since", "until")
CSV_COLUMNS = ("at_utc", "action", "actor", "staff_user_id", "api_token_id", "profile_id", "detail")


@dataclass(frozen=True, slots=True)
class Filters:
    """The filter form as typed, and what it means once read."""

    typed: dict[str, str]
    chosen: AuditFilter
    page: int


def _typed(request: Request) -> dict[str, str]:
    return {key: request.query_params.get(key, "")[:100] for key in FILTER_FIELDS}


def _read_filters(request: Request) -> Filters:
    """The query string's filters, or InvalidInput naming the first field that is wrong."""
    params = request.query_params
    typed = _typed(request)
    action = typed["action"].strip() or None
    if action is not None and action not in AUDIT_ACTIONS:
        raise InvalidInput("Choose an action from the list.", field="action")
    profile: uuid.UUID | None = None
    if typed["profile"].strip():
        try:
            profile = uuid.UUID(typed["profile"].strip())
        except ValueError:
            raise InvalidInput(
                "A profile id looks like 0b8e5b5e-3f0c-4f43-9a55-7c1f2a0d9e11 (from the "
                "customer page's address).",
                field="profile",
            ) from None
    since = parse_date(typed["since"], field_name="since", label="date")
    until = parse_date(typed["until"], field_name="until", label="date")
    if since and until and until < since:
        raise InvalidInput("The last day comes before the first day.", field="until")
    staff_id = parse_id(typed["staff"], field_name="staff", what="a staff member")
    page_text = params.get("page", "1")[:10]
    page = int(page_text) if page_text.isdigit() and int(page_text) > 0 else 1
    chosen = AuditFilter(
        staff_user_id=staff_id, action=action, profile_id=profile, since=since, until=until
    )
    return Filters(typed=typed, chosen=chosen, page=page)


def _query(typed: dict[str, str], **extra: str) -> str:
    """The filters as a query string, for the pages' links and the CSV link."""
    return urlencode({k: v for k, v in {**typed, **extra}.items() if v})


@router.get(AUDIT_URL, response_class=HTMLResponse)
def audit_page(request: Request, session: DbSession, staff: AuditStaff) -> Response:
    common = {
        "staff_members": audit_repo.staff_members(session),
        "actions": ACTION_LABELS,
    }
    try:
        filters = _read_filters(request)
    except CdpError as error:
        typed = _typed(request)
        return render(
            request,
            "admin/audit.html",
            {**common, "typed": typed, "error": error.message, "error_field": error.field,
             "records": [], "total": 0, "page": 1, "pages": 1, "query": _query},
            status_code=400,
            staff=staff,
        )  # fmt: skip
    total = audit_repo.count(session, filters.chosen)
    pages = max(1, -(-total // PER_PAGE))
    page = min(filters.page, pages)
    records = audit_repo.page_of(
        session, filters.chosen, offset=(page - 1) * PER_PAGE, limit=PER_PAGE
    )
    return render(
        request,
        "admin/audit.html",
        {**common, "typed": filters.typed, "error": None, "error_field": None,
         "records": records, "total": total, "page": page, "pages": pages, "query": _query},
        staff=staff,
    )  # fmt: skip


def _write_csv(rows: Iterator[list[str]], out: IO[str]) -> None:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])


@router.get(f"{AUDIT_URL}.csv")
def audit_csv(request: Request, session: DbSession, staff: AuditStaff) -> Response:
    """Every record the filters select (all pages), newest first, as CSV."""
    try:
        filters = _read_filters(request)
    except CdpError as error:
        return render(
            request,
            "error.html",
            {"status": 400, "detail": error.message},
            status_code=400,
            staff=staff,
        )
    rows = (
        [
            record.at.isoformat(),
            record.action,
            record.actor,
            str(record.staff_user_id or ""),
            str(record.api_token_id or ""),
            str(record.profile_id or ""),
            record.detail,
        ]
        for record in audit_repo.every(session, filters.chosen)
    )
    # Written out before sending (spilling to disk past a megabyte): the request's transaction
    # then ends at once rather than staying open for a slow download.
    spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by the stream below
        max_size=SPOOL_IN_MEMORY, mode="w+", encoding="utf-8", newline=""
    )
    _write_csv(rows, spool)
    spool.seek(0)

    def stream() -> Iterator[str]:
        with spool:
            while piece := spool.read(64 * 1024):
                yield piece

    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        stream(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
