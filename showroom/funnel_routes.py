"""The funnel (/showroom/funnel): per channel, campaign, period, dealer and salesperson, against
the norms, with the why next to the network's; its CSV tables (/showroom/funnel.csv?table=) and
the leads behind any cell (/showroom/funnel/leads?cell=).

Sales managers and admins see their dealers' (importer staff: the network's) and pick anyone's;
a salesperson sees their own leads only. A filter typed wrong re-renders the page with status
400 and the problem next to its field; the page then shows what it could read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.csv_cells import neutralise
from cdp.deps import DbSession
from cdp.ids import whole_number
from cdp.leads import funnel_charts, funnel_queries, funnel_tables
from cdp.leads.funnel import STEPS, build_funnel, median_text
from cdp.leads.funnel_filters import FilterInput, FunnelFilters, period_choices, read_filters
from cdp.leads.norms import ONLINE_FLOOR, channel_labels
from cdp.models import LOST_REASONS, Dealer, Lead, ProfileSearch, StaffUser, utcnow
from cdp.web import DealerChoice, PageForbidden, customer_url, dealer_choice, render, require

router = APIRouter(include_in_schema=False)
# Salespeople reach the page too (their own leads); managers (FUNNEL) choose whose.
FunnelStaff = Annotated[StaffContext, Depends(require(Permission.LEADS))]
Field = Annotated[str, Query(max_length=200)]
PER_PAGE = 50
MAX_PAGE = 100_000


@dataclass
class Read:
    filters: FunnelFilters
    problems: dict[str, str]
    choice: DealerChoice
    salespeople: list[tuple[int, str]]
    own_only: bool


def _read(session: Session, staff: StaffContext, raw: FilterInput, dealer: str) -> Read:
    """The filters asked for, checked against what this person may see."""
    if not (staff.can(Permission.FUNNEL) or staff.can(Permission.LEADS)):
        raise PageForbidden(f"Your role ({staff.role}) does not give access to this page.")
    own_only = not staff.can(Permission.FUNNEL)
    choice = dealer_choice(session, staff, dealer)
    found = read_filters(raw, now=utcnow(), scope=choice.scope, dealer_code=choice.code)
    filters, problems = found.filters, found.problems
    people = [] if own_only else funnel_queries.salespeople(session, filters)
    if own_only:
        if filters.salesperson_id not in (None, staff.user_id) or "salesperson" in problems:
            raise PageForbidden("You see the funnel of your own leads only.")
        filters = replace(filters, salesperson_id=staff.user_id)
    elif filters.salesperson_id is not None and filters.salesperson_id not in dict(people):
        problems["salesperson"] = "There is no such salesperson at these dealers."
        filters = replace(filters, salesperson_id=None)
    return Read(filters, problems, choice, people, own_only)


@dataclass(frozen=True)
class FunnelQuery:
    raw: FilterInput
    dealer: str


def _asked(
    period: Field = "",
    date_from: Annotated[str, Query(alias="from", max_length=20)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=20)] = "",
    definition: Field = "",
    channel: Field = "",
    campaign: Field = "",
    touch: Field = "",
    salesperson: Field = "",
    dealer: Annotated[str, Query(max_length=40)] = "",
) -> FunnelQuery:
    """The filters of the page, its CSV and its drill-down: one set of query parameters."""
    raw = FilterInput(period, date_from, date_to, definition, channel, campaign, touch, salesperson)
    return FunnelQuery(raw, dealer)


Asked = Annotated[FunnelQuery, Depends(_asked)]


def _linker(filters: FunnelFilters, own_only: bool) -> Callable[..., str]:
    def link(path: str, **changes: Any) -> str:
        query = filters.query(**{k: "" if v is None else str(v) for k, v in changes.items()})
        if own_only:
            query.pop("salesperson", None)  # theirs anyway
        return f"{path}?{urlencode(query)}"

    return link


@router.get("/showroom/funnel", response_class=HTMLResponse)
def funnel_page(
    request: Request,
    session: DbSession,
    staff: FunnelStaff,
    asked: Asked,
) -> Response:
    """The funnel of the leads the filters select, with the why, the charts and the trend."""
    read = _read(session, staff, asked.raw, asked.dealer)
    funnel = build_funnel(session, read.filters)
    focus = next(
        (row for row in funnel.channels if row.channel == read.filters.channel), funnel.total
    )
    labels = channel_labels(session)
    status = 400 if read.problems else (404 if read.choice.problem else 200)
    return render(
        request,
        "showroom/funnel.html",
        {
            "funnel": funnel,
            "filters": read.filters,
            "raw": asked.raw,
            "problems": read.problems,
            "choice": read.choice,
            "own_only": read.own_only,
            "salespeople": read.salespeople,
            "campaigns": funnel.campaigns
            if funnel.campaigns is not None
            else funnel_queries.campaigns(session, read.filters),
            "channel_labels": labels,
            "periods": period_choices(utcnow()),
            "steps": STEPS,
            "online_floor": ONLINE_FLOOR,
            "median_text": median_text,
            "link": _linker(read.filters, read.own_only),
            "charts": {
                "funnel": funnel_charts.funnel_chart(focus),
                "conversion": funnel_charts.conversion_chart(focus, funnel.channels),
                "trend": funnel_charts.trend_chart(funnel.trend),
            },
            "focus": focus,
            "step_labels": funnel_charts.STEP_LABELS,
        },
        status_code=status,
        staff=staff,
    )


@router.get("/showroom/funnel.csv")
def funnel_csv(
    request: Request,
    session: DbSession,
    staff: FunnelStaff,
    asked: Asked,
    table: Annotated[str, Query(max_length=20)] = "steps",
) -> Response:
    """One of the page's tables (steps, why, lost, trend) with the same filters, as CSV."""
    read = _read(session, staff, asked.raw, asked.dealer)
    problems = dict(read.problems)
    if table not in funnel_tables.TABLES:
        problems["table"] = f"Pick one of the tables: {', '.join(funnel_tables.TABLES)}."
    if read.choice.problem:
        problems["dealer"] = read.choice.problem
    if problems:
        return Response(
            "\n".join(f"{name}: {message}" for name, message in problems.items()) + "\n",
            status_code=400,
            media_type="text/plain; charset=utf-8",
        )
    funnel = build_funnel(session, read.filters)
    rows = {
        "steps": lambda: funnel_tables.steps_table(funnel),
        "why": lambda: funnel_tables.why_table(funnel),
        "lost": lambda: funnel_tables.lost_table(funnel, channel_labels(session)),
        "trend": lambda: funnel_tables.trend_table(funnel),
    }[table]()
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    name = f"funnel-{table}-{read.filters.period.key}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/showroom/funnel/leads", response_class=HTMLResponse)
def funnel_leads(
    request: Request,
    session: DbSession,
    staff: FunnelStaff,
    asked: Asked,
    cell: Annotated[str, Query(max_length=20)] = "leads",
    reason: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[str, Query(max_length=10)] = "1",
) -> Response:
    """The leads a cell of the funnel counts, newest first, a page at a time."""
    read = _read(session, staff, asked.raw, asked.dealer)
    problems = dict(read.problems)
    if cell not in funnel_queries.DRILL_CELLS:
        problems["cell"] = "There is no such figure in the funnel."
        cell = "leads"
    if reason and reason not in LOST_REASONS:
        problems["reason"] = "There is no such lost reason."
        reason = ""
    number = whole_number(page, most=MAX_PAGE) or 1
    filters = read.filters
    total, ids = funnel_queries.cell_leads(
        session,
        filters,
        filters.definition,
        cell,
        lost_reason=reason or None,
        offset=(number - 1) * PER_PAGE,
        limit=PER_PAGE,
    )
    rows = session.execute(
        select(Lead, ProfileSearch.name, Dealer.name, StaffUser.name)
        .outerjoin(ProfileSearch, ProfileSearch.profile_id == Lead.profile_id)
        .outerjoin(Dealer, Dealer.id == Lead.dealer_id)
        .outerjoin(StaffUser, StaffUser.id == Lead.assigned_user_id)
        .where(Lead.id.in_(ids))
    ).all()
    by_id = {row[0].id: row for row in rows}
    pages = max(1, -(-total // PER_PAGE))
    link = _linker(filters, read.own_only)
    return render(
        request,
        "showroom/funnel_leads.html",
        {
            "leads": [by_id[i] for i in ids if i in by_id],
            "total": total,
            "page": number,
            "pages": pages,
            "cell": cell,
            "reason": reason,
            "filters": filters,
            "problems": problems,
            "choice": read.choice,
            "channel_labels": channel_labels(session),
            "step_labels": funnel_charts.STEP_LABELS,
            "customer_url": customer_url,
            "back": link("/showroom/funnel"),
            "page_link": lambda n: link("/showroom/funnel/leads", cell=cell, reason=reason, page=n),
        },
        status_code=400 if problems else (404 if read.choice.problem else 200),
        staff=staff,
    )
