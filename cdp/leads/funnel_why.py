"""The why behind the funnel: how fast leads were first contacted, how many attempts it took to
reach them, how long a sale took (each kept on the lead by `cdp.leads.progress`). Read over the
valid leads created in the period (the cohort, whichever definition the funnel shows), so a
dealer's figure and the network's compare.

The times' medians are PostgreSQL's percentile_cont; SQLite (tests, the demo) has none, so
there the per-lead values are fetched and the median taken in Python: SQLite holds small data
sets only. The attempts (a small integer) are counted per value by the cohort's grouped read,
and their median and mean taken from those counts: the same figure as percentile_cont's
(the two middle values averaged when the count is even) without sorting every lead's.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.orm import Session

from cdp.leads.funnel_filters import FunnelFilters
from cdp.leads.funnel_queries import (
    FIVE_MINUTES,
    ONE_HOUR,
    Cohort,
    Reach,
    cohort,
    created_in,
    lead_conditions,
    valid_lead,
)
from cdp.models import Lead
from cdp.sql import dialect_of

DAY = 86400.0


@dataclass(frozen=True)
class Why:
    leads: int  # valid leads created in the period
    contacted: int  # of them, with any contact attempt
    median_first_contact_s: float | None
    within_5_min: int
    within_1_hour: int
    reached: int  # leads a contact attempt reached
    median_attempts: float | None
    mean_attempts: float | None
    sold: int
    median_cycle_days: float | None
    appointments: int  # valid leads of the period that had an appointment
    shows: int
    test_drives: int

    @property
    def show_rate(self) -> float | None:
        """Of the leads with an appointment, the share that showed."""
        return self.shows / self.appointments if self.appointments else None

    @property
    def test_drive_rate(self) -> float | None:
        """Of the valid leads, the share that had a test drive."""
        return self.share(self.test_drives)

    def share(self, part: int) -> float | None:
        return part / self.leads if self.leads else None


def _figures(
    session: Session, where: list[Any], aggregates: list[Any], medians: list[Any]
) -> tuple[list[Any], list[float | None]]:
    """The aggregates of the leads `where` says, and the median of each column in `medians`
    (nulls left out): one query on PostgreSQL (percentile_cont beside the other aggregates);
    on SQLite the values are fetched and the medians taken in Python."""
    if dialect_of(session) == "postgresql":
        # A year's 240,000 first-contact times spill their sort to disk at the default 4 MB
        # (trace_sort: external, 314 blocks; 6 MB in memory): more for this transaction.
        session.execute(text("SET LOCAL work_mem = '16MB'"))
        found = session.execute(
            select(
                *aggregates, *(func.percentile_cont(0.5).within_group(c) for c in medians)
            ).where(*where)
        ).one()
        values = list(found)
        return values[: len(aggregates)], [
            None if v is None else float(v) for v in values[len(aggregates) :]
        ]
    plain = list(session.execute(select(*aggregates).where(*where)).one()) if aggregates else []
    middles: list[float | None] = []
    for column in medians:
        rows = session.scalars(select(column).where(*where, column.is_not(None)))
        numbers = [float(v) for v in rows]
        middles.append(statistics.median(numbers) if numbers else None)
    return plain, middles


def median_of_counts(counts: dict[int, int]) -> float | None:
    """The median of values given as value -> how many: the middle one, or the mean of the
    two middle ones when there are an even number (percentile_cont(0.5)'s interpolation)."""
    total = sum(counts.values())
    if not total:
        return None
    lower_at, upper_at = (total - 1) // 2, total // 2  # 0-based ranks of the middle values
    lower = upper = None
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if lower is None and seen > lower_at:
            lower = value
        if seen > upper_at:
            upper = value
            break
    assert lower is not None and upper is not None
    return lower + (upper - lower) / 2


def why(session: Session, filters: FunnelFilters, *, period_cohort: Cohort | None = None) -> Why:
    """The why figures of the filters' leads; `period_cohort`: their cohort, when already
    read (its step counts and attempts). One read of the valid leads of the period: their
    first contact and time to sale are kept on each lead (`cdp.leads.progress`)."""
    if period_cohort is None:
        period_cohort = cohort(session, filters)
    steps = {
        kind: sum(row[kind] for row in period_cohort.counts.values())
        for kind in ("appointment", "show", "test_drive")
    }
    tries = period_cohort.attempts
    reached = sum(tries.values())
    delay = Lead.first_contact_s
    where = [*lead_conditions(filters), created_in(filters), valid_lead()]
    reach = period_cohort.reach
    if reach is None:
        (leads, contacted, fast, hour, sold), medians = _figures(
            session,
            where,
            [
                func.count(),
                func.count(delay),
                func.sum(case((delay <= FIVE_MINUTES, 1), else_=0)),
                func.sum(case((delay <= ONE_HOUR, 1), else_=0)),
                func.count(Lead.sold_after_s),
            ],
            [delay, Lead.sold_after_s],
        )
        reach = Reach(
            int(leads or 0), int(contacted or 0), int(fast or 0), int(hour or 0), int(sold or 0)
        )
    else:  # the counts came with the cohort (the tally): only the medians need the leads
        _, medians = _figures(session, where, [], [delay, Lead.sold_after_s])
    median_delay, median_sold_after = medians
    median_attempts = median_of_counts(tries)
    mean_attempts = sum(k * n for k, n in tries.items()) / reached if reached else None
    return Why(
        leads=reach.leads,
        contacted=reach.contacted,
        median_first_contact_s=median_delay,
        within_5_min=reach.within_5_min,
        within_1_hour=reach.within_1_hour,
        reached=reached,
        median_attempts=median_attempts,
        mean_attempts=mean_attempts,
        sold=reach.sold,
        median_cycle_days=None if median_sold_after is None else median_sold_after / DAY,
        appointments=steps["appointment"],
        shows=steps["show"],
        test_drives=steps["test_drive"],
    )
