"""What the planner reads from the leads: conversions observed per channel and stage, speed to
lead against reach, and leads and sales per month. Every query is scoped to the caller's dealers.

A lead counts at the furthest stage it ever reached (its stage history and its current stage),
read from the progress each lead carries (cdp/leads/progress.py), so the figures read one row a
lead instead of its histories. Invalid and duplicate leads are not leads. Months are the
showroom's calendar months (cdp/local_time.py), bucketed in SQL by their bounds, so both
databases agree.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, case, func, select
from sqlalchemy.orm import Session

from cdp.dealers.visibility import DealerScope
from cdp.leads import progress
from cdp.leads.funnel_queries import no_jit
from cdp.models import Lead, LeadStageChange
from cdp.sql import dialect_of

NOT_LEADS = ("invalid", "duplicate")
# The steps the planner's what-ifs act on, in order; a later one implies the earlier ones.
STEPS = ("reached", "appointment", "test_drive", "quote", "sold")
_RANK = {"reached": 1, "appointment": 2, "test_drive": 3, "quote": 4, "sold": 5, "delivered": 5}
# The progress's steps have a show between appointment and test drive (3), the planner's not.
_SHOW = progress.SHOW_RANK
FAST_CONTACT = timedelta(minutes=5)


@dataclass
class StepCounts:
    """A channel's valid leads and how many got at least as far as each step."""

    leads: int = 0
    reached: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))

    def add(self, other: StepCounts) -> None:
        self.leads += other.leads
        for step in STEPS:
            self.reached[step] += other.reached[step]


def _rank(column: SQLColumnExpression[str]) -> ColumnElement[int]:
    return case(*((column == stage, rank) for stage, rank in _RANK.items()), else_=0)


def _valid_leads(scope: DealerScope, since: datetime, until: datetime) -> list[ColumnElement[bool]]:
    return [
        Lead.created_at >= since,
        Lead.created_at < until,
        Lead.stage.not_in(NOT_LEADS),
        scope.where(Lead.dealer_id.expression),
    ]


def _furthest() -> ColumnElement[int]:
    """The furthest of the planner's steps the lead reached (0 none ... 5 sold), from its kept
    progress: past the show each progress step is the planner's one lower. The progress counts
    a show (an appointment showed, a floor check-in) as reached and appointment too; the
    planner counts stages only, so a lead whose furthest step is the show itself is ranked by
    its stages: its current one, or a further one in its history (an index look-up for those
    leads alone, as CASE evaluates it only there)."""
    now = _rank(Lead.stage)
    history = (
        select(func.max(_rank(LeadStageChange.to_stage)))
        .where(LeadStageChange.lead_id == Lead.id, _rank(LeadStageChange.to_stage) > now)
        .scalar_subquery()
    )
    step = Lead.furthest_step
    return case(
        (step > _SHOW, step - 1),
        (step == _SHOW, func.coalesce(history, now)),
        else_=step,
    )


@dataclass(frozen=True)
class SpeedToLead:
    """Leads first contacted within FAST_CONTACT of coming in, and later (or never), and how
    many of each were reached."""

    fast: int
    fast_reached: int
    slow: int
    slow_reached: int

    @property
    def fast_share(self) -> float | None:
        total = self.fast + self.slow
        return self.fast / total if total else None


def _reached(step: str) -> ColumnElement[bool]:
    """Whether the lead got at least as far as the planner's `step`. Past the show the kept
    progress says it; only the reach and the appointment need the show's leads' stages."""
    rank = _RANK[step]
    if rank >= _SHOW:
        return Lead.furthest_step > rank
    return _furthest() >= rank


def observations(
    session: Session, scope: DealerScope, *, since: datetime, until: datetime
) -> tuple[dict[str, StepCounts], SpeedToLead]:
    """Per channel, the leads that came in over [since, until) and how far they got; and over
    all of them, how many were first contacted within FAST_CONTACT and how many of those and of
    the others were reached. One pass over the period's leads, grouped by channel (few groups,
    so PostgreSQL hashes them; grouped by the step as well, it sorted every lead first)."""
    no_jit(session)  # the look-up's estimate would make PostgreSQL compile the query first
    fast = Lead.first_contact_s <= FAST_CONTACT.total_seconds()
    sums = [func.sum(case((_reached(step), 1), else_=0)) for step in STEPS]
    rows = session.execute(
        select(
            Lead.channel,
            func.count(),
            func.sum(case((fast, 1), else_=0)),
            func.sum(case((and_(fast, _reached("reached")), 1), else_=0)),
            *sums,
        )
        .where(*_valid_leads(scope, since, until))
        .group_by(Lead.channel)
    )
    found: dict[str, StepCounts] = {}
    tally = {"fast": 0, "fast_reached": 0, "leads": 0, "reached": 0}
    for row in rows:
        counts = StepCounts(leads=int(row[1]))
        for i, step in enumerate(STEPS):
            counts.reached[step] = int(row[4 + i] or 0)
        found[str(row[0])] = counts
        tally["fast"] += int(row[2] or 0)
        tally["fast_reached"] += int(row[3] or 0)
        tally["leads"] += counts.leads
        tally["reached"] += counts.reached["reached"]
    speed = SpeedToLead(
        fast=tally["fast"],
        fast_reached=tally["fast_reached"],
        slow=tally["leads"] - tally["fast"],
        slow_reached=tally["reached"] - tally["fast_reached"],
    )
    return found, speed


def median_days_to_sale(
    session: Session, scope: DealerScope, *, since: datetime, until: datetime
) -> float | None:
    """The median days from lead to first sale over the valid leads that came in over
    [since, until) and were sold (the lead's kept `sold_after_s`, as the funnel's transaction
    cycle); None without one. PostgreSQL's percentile_cont; SQLite (tests, the demo) has none,
    so there the values are fetched and the median taken here."""
    where = [*_valid_leads(scope, since, until), Lead.sold_after_s.is_not(None)]
    if dialect_of(session) == "postgresql":
        found = session.scalar(
            select(func.percentile_cont(0.5).within_group(Lead.sold_after_s)).where(*where)
        )
        return None if found is None else float(found) / 86400
    rows = session.scalars(select(Lead.sold_after_s).where(*where))
    values = [float(v) for v in rows if v is not None]
    return statistics.median(values) / 86400 if values else None


def _bucket(
    column: SQLColumnExpression[datetime] | SQLColumnExpression[datetime | None],
    bounds: Sequence[datetime],
) -> ColumnElement[int]:
    """Which of the ranges [bounds[i], bounds[i+1]) the moment falls in (rows outside the whole
    range are filtered out by the caller)."""
    return case(*((column < bound, i) for i, bound in enumerate(bounds[1:])), else_=-1)


def leads_per_month(
    session: Session, scope: DealerScope, bounds: Sequence[datetime]
) -> dict[tuple[int, str], int]:
    """(month index, channel) -> valid leads that came in during that month; `bounds` are the
    months' starts and the last one's end."""
    bucket = _bucket(Lead.created_at, bounds).label("bucket")
    rows = session.execute(
        select(bucket, Lead.channel, func.count())
        .where(*_valid_leads(scope, bounds[0], bounds[-1]))
        .group_by(bucket, Lead.channel)
    )
    return {(int(index), str(channel)): int(n) for index, channel, n in rows}


def sales_per_month(
    session: Session, scope: DealerScope, bounds: Sequence[datetime]
) -> dict[tuple[int, str], int]:
    """(month index, channel) -> leads first marked sold (or delivered) during that month,
    whenever they came in: the sales of the month (the progress's `step_sold_at`, indexed)."""
    sold_at = Lead.step_sold_at
    bucket = _bucket(sold_at, bounds).label("bucket")
    rows = session.execute(
        select(bucket, Lead.channel, func.count())
        .where(
            sold_at >= bounds[0],
            sold_at < bounds[-1],
            scope.where(Lead.dealer_id.expression),
        )
        .group_by(bucket, Lead.channel)
    )
    return {(int(index), str(channel)): int(n) for index, channel, n in rows}


def totals_by_month(per_channel: dict[tuple[int, str], int]) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for (index, _channel), n in per_channel.items():
        totals[index] += n
    return dict(totals)
