"""What the planner reads from the leads: conversions observed per channel and stage, speed to
lead against reach, and leads and sales per month. Every query is scoped to the caller's dealers.

A lead counts at the furthest stage it ever reached (its stage history, as the funnel counts:
docs/funnel.md); invalid and duplicate leads are not leads. Months are the showroom's calendar
months (cdp/local_time.py), bucketed in SQL by their bounds, so both databases agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Interval,
    SQLColumnExpression,
    Subquery,
    case,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Session

from cdp.dealers.visibility import DealerScope
from cdp.models import ContactAttempt, Lead, LeadStageChange
from cdp.sql import dialect_of

NOT_LEADS = ("invalid", "duplicate")
SOLD_STAGES = ("sold", "delivered")
# The steps the planner's what-ifs act on, in order; a later one implies the earlier ones.
STEPS = ("reached", "appointment", "test_drive", "quote", "sold")
_RANK = {"reached": 1, "appointment": 2, "test_drive": 3, "quote": 4, "sold": 5, "delivered": 5}
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


def _furthest_per_lead(
    scope: DealerScope, since: datetime, until: datetime, *, first_contact: bool = False
) -> Subquery:
    """Each valid lead of the period with the furthest stage it reached (`furthest`, a rank):
    its stage history joined and grouped once. (Correlated lookups, one per use of the figure,
    made PostgreSQL's estimate so high that compiling the query (JIT) took seconds.) With
    `first_contact`, its first contact attempt too (`first_contact_at`; min and max are
    unchanged by the rows the two joins multiply)."""
    history = func.coalesce(func.max(_rank(LeadStageChange.to_stage)), 0)
    now = _rank(Lead.stage)
    query = select(
        Lead.id.label("id"),
        Lead.channel.label("channel"),
        Lead.created_at.label("created_at"),
        history.label("history"),
        now.label("now"),
    ).outerjoin(LeadStageChange, LeadStageChange.lead_id == Lead.id)
    if first_contact:
        query = query.add_columns(
            func.min(ContactAttempt.attempted_at).label("first_contact_at")
        ).outerjoin(ContactAttempt, ContactAttempt.lead_id == Lead.id)
    grouped = (
        query.where(*_valid_leads(scope, since, until))
        .group_by(Lead.id, Lead.channel, Lead.created_at, Lead.stage)
        .subquery()
    )
    furthest = case(
        (grouped.c.history > grouped.c.now, grouped.c.history), else_=grouped.c.now
    ).label("furthest")
    extra = [grouped.c.first_contact_at] if first_contact else []
    return select(
        grouped.c.id, grouped.c.channel, grouped.c.created_at, furthest, *extra
    ).subquery()


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


def observations(
    session: Session, scope: DealerScope, *, since: datetime, until: datetime
) -> tuple[dict[str, StepCounts], SpeedToLead]:
    """Per channel, the leads that came in over [since, until) and how far they got; and over
    all of them, how many were first contacted within FAST_CONTACT and how many of those and of
    the others were reached. One pass over the period's leads (at 500,000 leads a year the
    pass is what costs: docs/benchmarks.md, "Planner")."""
    per_lead = _furthest_per_lead(scope, since, until, first_contact=True)
    fast = case((_within(session, per_lead.c.first_contact_at, per_lead.c.created_at), 1), else_=0)
    reached = case((per_lead.c.furthest >= 1, 1), else_=0)
    sums = [
        func.sum(case((per_lead.c.furthest >= _RANK[step], 1), else_=0)).label(step)
        for step in STEPS
    ]
    rows = session.execute(
        select(
            per_lead.c.channel, func.count(), func.sum(fast), func.sum(fast * reached), *sums
        ).group_by(per_lead.c.channel)
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


def _within(
    session: Session, first: ColumnElement[datetime], created: SQLColumnExpression[datetime]
) -> ColumnElement[bool]:
    """First contact within FAST_CONTACT of the lead coming in (NULL, never contacted: no)."""
    if dialect_of(session) == "sqlite":  # times are text there: compare them as days
        limit = FAST_CONTACT.total_seconds() / 86400
        return func.julianday(first) - func.julianday(created) <= limit
    return first <= created + literal(FAST_CONTACT, Interval())


def _bucket(
    column: SQLColumnExpression[datetime], bounds: Sequence[datetime]
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
    whenever they came in: the sales of the month."""
    sold_at = func.min(LeadStageChange.changed_at)
    first_sold = (
        select(Lead.channel.label("channel"), sold_at.label("sold_at"))
        .join(LeadStageChange, LeadStageChange.lead_id == Lead.id)
        .where(
            LeadStageChange.to_stage.in_(SOLD_STAGES),
            LeadStageChange.changed_at < bounds[-1],
            scope.where(Lead.dealer_id.expression),
        )
        .group_by(Lead.id, Lead.channel)
        .having(sold_at >= bounds[0])
        .subquery()
    )
    bucket = _bucket(first_sold.c.sold_at, bounds).label("bucket")
    rows = session.execute(
        select(bucket, first_sold.c.channel, func.count()).group_by(bucket, first_sold.c.channel)
    )
    return {(int(index), str(channel)): int(n) for index, channel, n in rows}


def totals_by_month(per_channel: dict[tuple[int, str], int]) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for (index, _channel), n in per_channel.items():
        totals[index] += n
    return dict(totals)
