"""The why behind the funnel: how fast leads were first contacted, how many attempts it took to
reach them, how long a sale took (each kept on the lead by `cdp.leads.progress`). Read over the
valid leads created in the period (the cohort, whichever definition the funnel shows), so a
dealer's figure and the network's compare.

Medians are PostgreSQL's percentile_cont; SQLite (tests, the demo) has none, so there the
per-lead values are fetched and the median taken in Python: SQLite holds small data sets only.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cdp.leads.funnel_filters import FunnelFilters
from cdp.leads.funnel_queries import (
    FIVE_MINUTES,
    ONE_HOUR,
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
        found = session.execute(
            select(
                *aggregates, *(func.percentile_cont(0.5).within_group(c) for c in medians)
            ).where(*where)
        ).one()
        values = list(found)
        return values[: len(aggregates)], [
            None if v is None else float(v) for v in values[len(aggregates) :]
        ]
    plain = list(session.execute(select(*aggregates).where(*where)).one())
    middles: list[float | None] = []
    for column in medians:
        rows = session.scalars(select(column).where(*where, column.is_not(None)))
        numbers = [float(v) for v in rows]
        middles.append(statistics.median(numbers) if numbers else None)
    return plain, middles


def why(
    session: Session,
    filters: FunnelFilters,
    *,
    cohort_counts: dict[str, dict[str, int]] | None = None,
) -> Why:
    """The why figures of the filters' leads; `cohort_counts`: their step counts, when already
    read. One read of the valid leads of the period: their first contact, attempts until
    reached and time to sale are kept on each lead (`cdp.leads.progress`)."""
    if cohort_counts is None:
        cohort_counts = cohort(session, filters).counts
    steps = {
        kind: sum(row[kind] for row in cohort_counts.values())
        for kind in ("appointment", "show", "test_drive")
    }
    delay = Lead.first_contact_s
    (leads, contacted, fast, hour, reached, mean_attempts, sold), medians = _figures(
        session,
        [*lead_conditions(filters), created_in(filters), valid_lead()],
        [
            func.count(),
            func.count(delay),
            func.sum(case((delay <= FIVE_MINUTES, 1), else_=0)),
            func.sum(case((delay <= ONE_HOUR, 1), else_=0)),
            func.count(Lead.attempts_to_reach),
            func.avg(Lead.attempts_to_reach),
            func.count(Lead.sold_after_s),
        ],
        [delay, Lead.attempts_to_reach, Lead.sold_after_s],
    )
    median_delay, median_attempts, median_sold_after = medians
    return Why(
        leads=int(leads or 0),
        contacted=int(contacted or 0),
        median_first_contact_s=median_delay,
        within_5_min=int(fast or 0),
        within_1_hour=int(hour or 0),
        reached=int(reached or 0),
        median_attempts=median_attempts,
        mean_attempts=None if mean_attempts is None else float(mean_attempts),
        sold=int(sold or 0),
        median_cycle_days=None if median_sold_after is None else median_sold_after / DAY,
        appointments=steps["appointment"],
        shows=steps["show"],
        test_drives=steps["test_drive"],
    )
