"""The planner (/showroom/planner): from a quarter's sales target to the leads each channel
must bring (reverse), from the leads expected to the sales they make with what-ifs (forward),
and plans saved per dealer or for the network, compared with what happened."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from cdp.auth.permissions import Permission
from cdp.auth.staff import StaffContext
from cdp.deps import DbSession
from cdp.leads.norms import channel_labels
from cdp.models import LEAD_CHANNELS, Dealer, SalesPlan, utcnow
from cdp.planner import plans
from cdp.planner.comparison import as_csv, compare
from cdp.planner.forward import SPEED, SPEED_LABEL, STEP_LABELS
from cdp.planner.inputs import Reading, forward_input, plan_name, read, reverse_target
from cdp.planner.queries import STEPS
from cdp.planner.seasonality import COUNTRIES, quarter_months
from cdp.planner.service import (
    Owner,
    Starting,
    current_rates,
    days_to_sale,
    default_mix,
    leads_last_year,
    owner,
    plan_backwards,
    plan_forwards,
    starting,
)
from cdp.web import confirm_step, id_or_404, not_found, posting, redirect, render, require

router = APIRouter(include_in_schema=False)
PlannerStaff = Annotated[StaffContext, Depends(require(Permission.FUNNEL))]
PlannerPoster = Annotated[StaffContext, Depends(posting(Permission.FUNNEL))]
MONTH_NAMES = (
    "", "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def _common(session: DbSession, start: Starting | None = None) -> dict[str, Any]:
    return {
        "channels": LEAD_CHANNELS,
        "labels": channel_labels(session),
        "month_names": MONTH_NAMES,
        "countries": COUNTRIES,
        "quarter_months": quarter_months,
        "start": start,
    }


@router.get("/showroom/planner", response_class=HTMLResponse)
def planner_home(
    request: Request,
    session: DbSession,
    staff: PlannerStaff,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    total = plans.count(session, staff.scope)
    return render(
        request,
        "showroom/planner.html",
        {
            **_common(session),
            "rows": plans.listing(session, staff.scope, page=page),
            "total": total,
            "page": page,
            "pages": max(1, -(-total // plans.PAGE_SIZE)),
        },
    )


def _reverse_page(
    request: Request,
    session: DbSession,
    staff: StaffContext,
    reading: Reading,
    *,
    calculate: bool,
    status_code: int = 200,
) -> Response:
    who = owner(session, staff.scope, reading.text("dealer"))
    if who.problem:
        reading.problems["dealer"] = who.problem
    now = utcnow()
    start = starting(session, who.scope, now)
    fresh = "year" not in reading.values
    if fresh:  # first opened: next quarter, the dealer's holidays, the observed mix
        reading.values |= {
            "year": str(start.next_quarter[0]),
            "quarter": str(start.next_quarter[1]),
            "country": who.country,
            "basis": "norm",
            **{f"mix-{c}": f"{share:g}" for c, share in default_mix(start).items() if share},
        }
    result = None
    # First opened: the form only, filled in; nothing to mark before anything was typed.
    target = reverse_target(reading) if calculate and not fresh else None
    if target is not None and not who.problem:
        result, missing = plan_backwards(session, who.scope, target, start, now)
        for channel in missing:
            reading.problems[f"mix-{channel}"] = (
                f"{channel_labels(session)[channel]} has no lead-to-sale norm"
                + (" and too few leads of its own" if target.basis == "observed" else "")
                + ": give it no share, or set its norm."
            )
    if reading.problems and status_code == 200 and not fresh:
        status_code = 400
    return render(
        request,
        "showroom/planner_reverse.html",
        {
            **_common(session, start),
            "form": reading.values,
            "problems": reading.problems,
            "who": who,
            # A missing name leaves the result on show, its name field marked.
            "result": result if not reading.problems.keys() - {"name"} else None,
        },
        status_code=status_code,
    )


@router.get("/showroom/planner/reverse", response_class=HTMLResponse)
def reverse_page(request: Request, session: DbSession, staff: PlannerStaff) -> Response:
    """The reverse form; with its fields given, the leads each channel must bring."""
    reading = read(dict(request.query_params))
    return _reverse_page(request, session, staff, reading, calculate=True)


@router.post("/showroom/planner/plans", response_class=HTMLResponse)
async def save_plan(request: Request, session: DbSession, staff: PlannerPoster) -> Response:
    form = await request.form()
    reading = read({k: v for k, v in form.items() if isinstance(v, str)})
    name = plan_name(reading)
    who = owner(session, staff.scope, reading.text("dealer"))
    target = reverse_target(reading)
    if who.problem or target is None or name is None:
        return _reverse_page(request, session, staff, reading, calculate=True, status_code=400)
    start = starting(session, who.scope, utcnow())
    result, missing = plan_backwards(session, who.scope, target, start, utcnow())
    if result is None or missing:
        return _reverse_page(request, session, staff, reading, calculate=True, status_code=400)
    saved = plans.save(
        session,
        result,
        name=name,
        dealer_id=who.dealer_id,
        by_user_id=staff.user_id,
        actor=staff.email,
    )
    return redirect(request, f"/showroom/planner/plans/{saved.id}")


def _plan_or_404(session: DbSession, staff: StaffContext, plan_id: str) -> SalesPlan:
    plan = plans.get(session, id_or_404(plan_id, "plan"), staff.scope)
    if plan is None:
        raise not_found("plan")
    return plan


def _owner_name(session: DbSession, plan: SalesPlan) -> str:
    if plan.dealer_id is None:
        return "the network"
    dealer = session.get(Dealer, plan.dealer_id)
    return f"{dealer.name} ({dealer.code})" if dealer else "a dealer"


@router.get("/showroom/planner/plans/{plan_id}", response_class=HTMLResponse)
def plan_page(request: Request, session: DbSession, staff: PlannerStaff, plan_id: str) -> Response:
    plan = _plan_or_404(session, staff, plan_id)
    lines = plans.lines(session, plan.id)
    comparison = compare(session, plan, lines)
    peak = max(
        [1.0] + [max(r.total.planned_leads, r.total.actual_leads) for r in comparison.months]
    )
    peak_sales = max(
        [1.0] + [max(r.total.planned_sales, r.total.actual_sales) for r in comparison.months]
    )
    return render(
        request,
        "showroom/planner_plan.html",
        {
            **_common(session),
            "plan": plan,
            "owner_name": _owner_name(session, plan),
            "comparison": comparison,
            "peak": peak,
            "peak_sales": peak_sales,
        },
    )


@router.get("/showroom/planner/plans/{plan_id}/comparison.csv")
def plan_csv(request: Request, session: DbSession, staff: PlannerStaff, plan_id: str) -> Response:
    plan = _plan_or_404(session, staff, plan_id)
    body = as_csv(
        plan, compare(session, plan, plans.lines(session, plan.id)), channel_labels(session)
    )
    filename = f"plan-{plan.id}-{plan.year}-q{plan.quarter}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/showroom/planner/plans/{plan_id}/delete", response_class=HTMLResponse)
async def delete_plan(
    request: Request, session: DbSession, staff: PlannerPoster, plan_id: str
) -> Response:
    plan = _plan_or_404(session, staff, plan_id)
    form = await request.form()
    if form.get("confirm") != "yes":
        return confirm_step(
            request,
            question=f"Delete the plan “{plan.name}”?",
            details=[
                f"Q{plan.quarter} {plan.year} for {_owner_name(session, plan)}: its targets and "
                "the leads and sales it planned per month are deleted. What happened (the leads "
                "themselves) is not touched.",
            ],
            action=f"/showroom/planner/plans/{plan.id}/delete",
            fields={},
            yes="Delete the plan",
            back_url=f"/showroom/planner/plans/{plan.id}",
        )
    plans.remove(session, plan, actor=staff.email, by_user_id=staff.user_id)
    return redirect(request, "/showroom/planner")


@router.get("/showroom/planner/forward", response_class=HTMLResponse)
def forward_page(
    request: Request,
    session: DbSession,
    staff: PlannerStaff,
    plan: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """Leads per channel and month (from a saved plan, or last year's same quarter) to sales,
    with what-ifs on each stage's conversion, speed to lead and spend."""
    reading = read(dict(request.query_params))
    who = owner(session, staff.scope, reading.text("dealer"))
    if who.problem:
        reading.problems["dealer"] = who.problem
    start = starting(session, who.scope, utcnow())
    now_rates = current_rates(start)
    fresh = "year" not in reading.values
    if fresh:
        reading.values |= _forward_defaults(session, staff, who, start, plan, now_rates)
    result, lag = None, None
    has_leads = any(k.startswith("leads-") and v.strip() for k, v in reading.values.items())
    given = forward_input(reading) if has_leads or not fresh else None
    if given is not None and not who.problem:
        lag = days_to_sale(session, utcnow())
        result, missing = plan_forwards(given, start, days_to_sale=lag)
        for channel in missing:
            reading.problems[f"leads-{channel}-0"] = (
                f"{channel_labels(session)[channel]} has no lead-to-sale rate to plan with: "
                "leave its leads out, or set its norm."
            )
    ratio, ratio_source = start.observed.fast_reach_ratio()
    notes = {}
    if result is not None and result.reach_asked is not None:
        notes[f"plan-{SPEED}"] = (
            f"Reach would be {result.reach_asked:.0%} at this speed: counted as 100% "
            "(every lead reached)."
        )
    return render(
        request,
        "showroom/planner_forward.html",
        {
            **_common(session, start),
            "form": reading.values,
            "problems": reading.problems,
            "who": who,
            "result": result if not reading.problems else None,
            "whatifs": [*((s, STEP_LABELS[s]) for s in STEPS), (SPEED, SPEED_LABEL)],
            "now_rates": now_rates,
            "fast_ratio": ratio,
            "fast_ratio_source": ratio_source,
            "notes": notes,
            "lag": lag,
        },
        status_code=400 if reading.problems and not fresh else 200,
    )


def _forward_defaults(
    session: DbSession,
    staff: StaffContext,
    who: Owner,
    start: Starting,
    plan_id: str,
    now_rates: dict[str, float | None],
) -> dict[str, str]:
    values: dict[str, str] = {}
    saved = plans.get(session, id_or_404(plan_id, "plan"), staff.scope) if plan_id else None
    if plan_id and saved is None:
        raise not_found("plan")
    if saved is not None:
        year, quarter, basis = saved.year, saved.quarter, saved.basis
        months = quarter_months(quarter)
        for line in plans.lines(session, saved.id):
            values[f"leads-{line.channel}-{months.index(line.month)}"] = str(line.leads)
    else:
        (year, quarter), basis = start.next_quarter, "norm"
        for channel, leads in leads_last_year(session, who.scope, year, quarter).items():
            for i, n in enumerate(leads):
                values[f"leads-{channel}-{i}"] = str(n)
    values |= {"year": str(year), "quarter": str(quarter), "basis": basis}
    for key, rate in now_rates.items():
        if rate is not None and (rate > 0 or key == SPEED):
            values[f"now-{key}"] = f"{rate * 100:.1f}"
    return values
