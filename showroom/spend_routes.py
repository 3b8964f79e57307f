"""The return on marketing spend (/showroom/spend): per channel and campaign for a month,
quarter or year, each month's totals, a bar chart of cost per sale per channel, and the table as
CSV. Funnel viewers and those who enter spend see it, scoped to their dealers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.errors import InvalidInput
from cdp.leads.norms import channel_labels
from cdp.models import utcnow
from cdp.spend import periods
from cdp.spend.amounts import euros
from cdp.spend.export import return_csv
from cdp.spend.periods import Period
from cdp.spend.returns import TOUCH_CHOICES, spend_return
from cdp.web import PageForbidden, Staff, dealer_choice, render

router = APIRouter(include_in_schema=False)
SPEND_URL = "/showroom/spend"


def _return_viewer(staff: Staff) -> StaffContext:
    if not (staff.can(Permission.FUNNEL) or staff.can(Permission.SPEND)):
        raise PageForbidden(f"Your role ({staff.role}) does not give access to this page.")
    return staff


ReturnStaff = Annotated[StaffContext, Depends(_return_viewer)]
PeriodKey = Annotated[str, Query(max_length=10)]
Touch = Annotated[str, Query(max_length=10)]
DealerCode = Annotated[str, Query(max_length=40)]


def _period(raw: str) -> tuple[Period, str | None]:
    """The period asked for, or this year with the reason the one asked for was not shown."""
    if not raw.strip():
        return periods.current_year(utcnow()), None
    try:
        return periods.period_of(raw), None
    except InvalidInput as error:
        return periods.current_year(utcnow()), error.message


@router.get(SPEND_URL, response_class=HTMLResponse)
def spend_page(
    request: Request,
    session: DbSession,
    staff: ReturnStaff,
    period: PeriodKey = "",
    touch: Touch = "last",
    dealer: DealerCode = "",
) -> Response:
    chosen, period_problem = _period(period)
    touch_problem = None if touch in TOUCH_CHOICES else "Choose the last or the first touch."
    touch = touch if touch in TOUCH_CHOICES else "last"
    choice = dealer_choice(session, staff, dealer)
    report = spend_return(session, period=chosen, scope=choice.scope, touch=touch)
    query = f"period={chosen.key}&touch={touch}" + (f"&{choice.query}" if choice.query else "")
    problems = [p for p in (period_problem, touch_problem) if p]
    menu = periods.choices(utcnow())
    return render(
        request,
        "showroom/spend.html",
        {
            "report": report,
            "labels": channel_labels(session),
            "period_choices": menu,
            "period_listed": any(p.key == chosen.key for _group, items in menu for p in items),
            "touches": TOUCH_CHOICES,
            "choice": choice,
            "problems": problems,
            "query": query,
            "euros": euros,
            "month_label": periods.month_label,
            "network_view": choice.scope.network,
        },
        status_code=404 if choice.problem else 400 if problems else 200,
    )


@router.get(f"{SPEND_URL}.csv")
def spend_csv(
    request: Request,
    session: DbSession,
    staff: ReturnStaff,
    period: PeriodKey = "",
    touch: Touch = "last",
    dealer: DealerCode = "",
) -> Response:
    """The table as CSV: every month, channel and campaign of the period, then the totals."""

    def refuse(status: int, detail: str) -> Response:
        return render(request, "error.html", {"status": status, "detail": detail},
                      status_code=status, staff=staff)  # fmt: skip

    try:
        chosen = periods.period_of(period) if period.strip() else periods.current_year(utcnow())
    except InvalidInput as error:
        return refuse(400, error.message)
    if touch not in TOUCH_CHOICES:
        return refuse(400, "Choose the last or the first touch.")
    choice = dealer_choice(session, staff, dealer)
    if choice.problem:
        return refuse(404, choice.problem)
    report = spend_return(session, period=chosen, scope=choice.scope, touch=touch)
    name = f"spend-return-{chosen.key}{'-' + choice.code if choice.code else ''}.csv"
    return Response(
        return_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
