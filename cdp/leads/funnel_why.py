"""The why behind the funnel: how fast leads were first contacted, how many attempts it took to
reach them, how long a sale took. Read over the valid leads created in the period (the cohort,
whichever definition the funnel shows), so a dealer's figure and the network's compare.

Medians are PostgreSQL's percentile_cont; SQLite (tests, the demo) has none, so there the
per-lead values are fetched and the median taken in Python: SQLite holds small data sets only.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import Session

from cdp.leads.funnel_filters import FunnelFilters
from cdp.leads.funnel_queries import (
    NOT_LEADS,
    SOLD_STAGES,
    created_in,
    lead_conditions,
    step_counts,
)
from cdp.models import ContactAttempt, Lead, LeadStageChange
from cdp.sql import dialect_of

REACHING_OUTCOMES = ("reached", "replied")
FIVE_MINUTES = 300
ONE_HOUR = 3600


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


def seconds_between(session: Session, start: Any, end: Any) -> ColumnElement[float]:
    if dialect_of(session) == "postgresql":
        return cast(ColumnElement[float], func.extract("epoch", end - start))
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _median(session: Session, query: Select[Any]) -> float | None:
    """The median of the one column `query` selects (nulls left out)."""
    values = query.subquery()
    column = values.c[0]
    if dialect_of(session) == "postgresql":
        found = session.scalar(
            select(func.percentile_cont(0.5).within_group(column)).where(column.is_not(None))
        )
        return None if found is None else float(found)
    numbers = [float(v) for v in session.scalars(select(column).where(column.is_not(None)))]
    return statistics.median(numbers) if numbers else None


def why(
    session: Session, filters: FunnelFilters, *, cohort: dict[str, dict[str, int]] | None = None
) -> Why:
    """The why figures of the filters' leads; `cohort`: their step counts, when already read."""
    if cohort is None:
        cohort = step_counts(session, filters, "cohort")
    steps = {
        kind: sum(row[kind] for row in cohort.values())
        for kind in ("appointment", "show", "test_drive")
    }
    valid = [*lead_conditions(filters), created_in(filters), Lead.stage.not_in(NOT_LEADS)]
    first_contact = (
        select(ContactAttempt.lead_id, func.min(ContactAttempt.attempted_at).label("first_at"))
        .where(ContactAttempt.lead_id.in_(select(Lead.id).where(*valid)))
        .group_by(ContactAttempt.lead_id)
        .subquery()
    )
    delay = seconds_between(session, Lead.created_at, first_contact.c.first_at)
    speed = (
        select(Lead.id, delay.label("delay"))
        .outerjoin(first_contact, first_contact.c.lead_id == Lead.id)
        .where(*valid)
        .subquery()
    )
    leads, contacted, fast, hour = session.execute(
        select(
            func.count(),
            func.count(speed.c.delay),
            func.sum(case((speed.c.delay <= FIVE_MINUTES, 1), else_=0)),
            func.sum(case((speed.c.delay <= ONE_HOUR, 1), else_=0)),
        ).select_from(speed)
    ).one()
    median_delay = _median(session, select(speed.c.delay))

    # Attempts up to and including the first that reached the customer, per reached lead.
    reached_at = (
        select(
            ContactAttempt.lead_id,
            func.min(ContactAttempt.attempted_at).label("reached_at"),
        )
        .where(
            ContactAttempt.outcome.in_(REACHING_OUTCOMES),
            ContactAttempt.lead_id.in_(select(Lead.id).where(*valid)),
        )
        .group_by(ContactAttempt.lead_id)
        .subquery()
    )
    attempts = (
        select(ContactAttempt.lead_id, func.count().label("n"))
        .join(reached_at, reached_at.c.lead_id == ContactAttempt.lead_id)
        .where(ContactAttempt.attempted_at <= reached_at.c.reached_at)
        .group_by(ContactAttempt.lead_id)
        .subquery()
    )
    reached, mean_attempts = session.execute(
        select(func.count(), func.avg(attempts.c.n)).select_from(attempts)
    ).one()
    median_attempts = _median(session, select(attempts.c.n))

    # The transaction cycle: days from the lead to its first sale, for the period's leads.
    sold_at = (
        select(
            LeadStageChange.lead_id,
            func.min(LeadStageChange.changed_at).label("sold_at"),
        )
        .where(
            LeadStageChange.to_stage.in_(SOLD_STAGES),
            LeadStageChange.lead_id.in_(select(Lead.id).where(*valid)),
        )
        .group_by(LeadStageChange.lead_id)
        .subquery()
    )
    cycle = select(
        (seconds_between(session, Lead.created_at, sold_at.c.sold_at) / 86400.0).label("days")
    ).join(sold_at, sold_at.c.lead_id == Lead.id)
    sold = session.scalar(select(func.count()).select_from(cycle.subquery())) or 0
    return Why(
        leads=int(leads or 0),
        contacted=int(contacted or 0),
        median_first_contact_s=median_delay,
        within_5_min=int(fast or 0),
        within_1_hour=int(hour or 0),
        reached=int(reached or 0),
        median_attempts=median_attempts,
        mean_attempts=None if mean_attempts is None else float(mean_attempts),
        sold=int(sold),
        median_cycle_days=_median(session, cycle),
        appointments=steps["appointment"],
        shows=steps["show"],
        test_drives=steps["test_drive"],
    )
