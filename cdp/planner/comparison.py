"""A saved plan against what happened, month by month and channel by channel: the leads that
came in and the sales made (leads first marked sold in the month), in the plan's dealer or the
network (docs/planner.md#comparing-a-plan-with-what-happened)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy.orm import Session

from cdp.dealers.visibility import NETWORK, DealerScope
from cdp.models import LEAD_CHANNELS, SalesPlan, SalesPlanLine
from cdp.planner import queries
from cdp.planner.observed import month_bounds
from cdp.planner.seasonality import quarter_months


@dataclass(frozen=True)
class Figures:
    planned_leads: int
    actual_leads: int
    planned_sales: float
    actual_sales: int


@dataclass(frozen=True)
class MonthComparison:
    month: int
    channels: dict[str, Figures]
    total: Figures


@dataclass(frozen=True)
class Comparison:
    months: list[MonthComparison]
    channels: list[str]  # planned or with actual leads or sales, in the built-in order
    total: Figures


def _sum(figures: list[Figures]) -> Figures:
    return Figures(
        planned_leads=sum(f.planned_leads for f in figures),
        actual_leads=sum(f.actual_leads for f in figures),
        planned_sales=sum(f.planned_sales for f in figures),
        actual_sales=sum(f.actual_sales for f in figures),
    )


def compare(session: Session, plan: SalesPlan, lines: list[SalesPlanLine]) -> Comparison:
    scope = NETWORK if plan.dealer_id is None else DealerScope(frozenset({plan.dealer_id}))
    months = quarter_months(plan.quarter)
    bounds = month_bounds(plan.year, months)
    leads = queries.leads_per_month(session, scope, bounds)
    sales = queries.sales_per_month(session, scope, bounds)
    planned = {(line.month, line.channel): line for line in lines}
    used = {c for (_i, c) in leads} | {c for (_i, c) in sales} | {c for (_m, c) in planned}
    channels = [c for c in LEAD_CHANNELS if c in used] + sorted(used - set(LEAD_CHANNELS))
    rows = []
    for index, month in enumerate(months):
        per_channel = {}
        for channel in channels:
            line = planned.get((month, channel))
            per_channel[channel] = Figures(
                planned_leads=line.leads if line else 0,
                actual_leads=leads.get((index, channel), 0),
                planned_sales=float(line.sales) if line else 0.0,
                actual_sales=sales.get((index, channel), 0),
            )
        rows.append(MonthComparison(month, per_channel, _sum(list(per_channel.values()))))
    return Comparison(rows, channels, _sum([row.total for row in rows]))


CSV_HEADER = (
    "year",
    "month",
    "channel",
    "planned_leads",
    "actual_leads",
    "planned_sales",
    "actual_sales",
)


def as_csv(plan: SalesPlan, comparison: Comparison, labels: dict[str, str]) -> str:
    """One row per month and channel, then the month's total ("all"); channel labels as the
    importer names them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in comparison.months:
        items = [(labels.get(c, c), row.channels[c]) for c in comparison.channels]
        for name, f in [*items, ("all", row.total)]:
            writer.writerow(
                (
                    plan.year,
                    row.month,
                    _safe(name),
                    f.planned_leads,
                    f.actual_leads,
                    f"{f.planned_sales:.2f}",
                    f.actual_sales,
                )
            )
    return out.getvalue()


def _safe(cell: str) -> str:
    """A label an importer typed must not start a spreadsheet formula (CSV injection)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
