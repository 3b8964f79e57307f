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

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Subquery

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


def _figures(
    session: Session, source: Subquery, aggregates: list[Any], medians: list[Any]
) -> tuple[list[Any], list[float | None]]:
    """The aggregates of `source`, and the median of each column in `medians` (nulls left
    out): one query on PostgreSQL (percentile_cont beside the other aggregates); on SQLite
    the values are fetched and the medians taken in Python."""
    if dialect_of(session) == "postgresql":
        found = session.execute(
            select(
                *aggregates, *(func.percentile_cont(0.5).within_group(c) for c in medians)
            ).select_from(source)
        ).one()
        values = list(found)
        return values[: len(aggregates)], [
            None if v is None else float(v) for v in values[len(aggregates) :]
        ]
    plain = list(session.execute(select(*aggregates).select_from(source)).one())
    middles: list[float | None] = []
    for column in medians:
        numbers = [float(v) for v in session.scalars(select(column).where(column.is_not(None)))]
        middles.append(statistics.median(numbers) if numbers else None)
    return plain, middles


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
    # One read of the leads' contact attempts: the first, the first that reached them (a
    # window over the lead's attempts), and how many attempts it took up to that one.
    reaching = func.min(
        case((ContactAttempt.outcome.in_(REACHING_OUTCOMES), ContactAttempt.attempted_at))
    ).over(partition_by=ContactAttempt.lead_id)
    attempts = (
        select(ContactAttempt.lead_id, ContactAttempt.attempted_at, reaching.label("reached_at"))
        .where(ContactAttempt.lead_id.in_(select(Lead.id).where(*valid)))
        .subquery("attempts")
    )
    per_lead = (
        select(
            attempts.c.lead_id,
            func.min(attempts.c.attempted_at).label("first_at"),
            func.max(attempts.c.reached_at).label("reached_at"),
            func.sum(case((attempts.c.attempted_at <= attempts.c.reached_at, 1), else_=0)).label(
                "n"
            ),
        )
        .group_by(attempts.c.lead_id)
        .subquery("contacts")
    )
    delay = seconds_between(session, Lead.created_at, per_lead.c.first_at)
    speed = (
        select(
            delay.label("delay"),
            case((per_lead.c.reached_at.is_not(None), per_lead.c.n)).label("n"),
        )
        .select_from(Lead)
        .outerjoin(per_lead, per_lead.c.lead_id == Lead.id)
        .where(*valid)
        .subquery("speed")
    )
    (leads, contacted, fast, hour, reached, mean_attempts), (median_delay, median_attempts) = (
        _figures(
            session,
            speed,
            [
                func.count(),
                func.count(speed.c.delay),
                func.sum(case((speed.c.delay <= FIVE_MINUTES, 1), else_=0)),
                func.sum(case((speed.c.delay <= ONE_HOUR, 1), else_=0)),
                func.count(speed.c.n),
                func.avg(speed.c.n),
            ],
            [speed.c.delay, speed.c.n],
        )
    )

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
    cycle = (
        select(
            (seconds_between(session, Lead.created_at, sold_at.c.sold_at) / 86400.0).label("days")
        )
        .join(sold_at, sold_at.c.lead_id == Lead.id)
        .subquery("cycle")
    )
    (sold,), (median_cycle,) = _figures(session, cycle, [func.count()], [cycle.c.days])
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
        median_cycle_days=median_cycle,
        appointments=steps["appointment"],
        shows=steps["show"],
        test_drives=steps["test_drive"],
    )
