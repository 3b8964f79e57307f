"""The funnel's queries: every figure an aggregate in SQL, grouped by channel, never a lead per
row in Python (a network's year is half a million leads).

The heart is `lead_facts`: one row per lead of the filters with what its history says: the
furthest step its stage changes reached, the first moment it reached each step, and its first
show (an appointment that showed or a check-in on the floor). Both definitions read it:

- cohort: leads created in the period, each counted at the furthest step it reached;
- activity: leads counted at a step when they first reached it inside the period.

The same rows answer the drill-down (`cell_leads`), so a cell's leads are its count exactly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import Subquery

from cdp.auth.permissions import Permission
from cdp.leads.checks import roles_with
from cdp.leads.funnel_filters import FunnelFilters
from cdp.leads.norms import NORM_STEPS
from cdp.models import (
    OPEN_STAGES,
    Appointment,
    Lead,
    LeadStageChange,
    ShowroomVisit,
    StaffDealer,
    StaffUser,
)
from cdp.sql import dialect_of

STEPS = NORM_STEPS  # reached, appointment, show, test_drive, quote, sold
NOT_LEADS = ("invalid", "duplicate")
# How far each stage is along the funnel (1: reached ... 6: sold); a show is 3, between the
# appointment and the test drive, and only the appointments and the floor tell it.
STAGE_RANK = {
    "reached": 1,
    "appointment": 2,
    "test_drive": 4,
    "quote": 5,
    "sold": 6,
    "delivered": 6,
}
SHOW_RANK = STEPS.index("show") + 1
RANK_OF_STEP = {step: index + 1 for index, step in enumerate(STEPS)}


def stage_rank(column: Any) -> ColumnElement[int]:
    return case(STAGE_RANK, value=column, else_=0)


def greatest(session: Session, *values: ColumnElement[Any]) -> ColumnElement[Any]:
    """The largest of non-null values (GREATEST on PostgreSQL, the many-argument max on
    SQLite)."""
    if dialect_of(session) == "postgresql":
        return func.greatest(*values)
    return func.max(*values)


def earliest(session: Session, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    """The earlier of two times, either of which may be null."""
    first, second = func.coalesce(a, b), func.coalesce(b, a)
    if dialect_of(session) == "postgresql":
        return func.least(first, second)
    return func.min(first, second)


def campaign_of(touch: str) -> ColumnElement[str]:
    column = Lead.first_touch if touch == "first" else Lead.last_touch
    name: ColumnElement[str] = column["name"].as_string()
    return name


def lead_conditions(filters: FunnelFilters) -> list[ColumnElement[bool]]:
    """Dealer, channel, campaign and salesperson: every filter but the period."""
    conditions = [filters.scope.where(Lead.dealer_id.expression)]
    if filters.channel:
        conditions.append(Lead.channel == filters.channel)
    if filters.campaign:
        conditions.append(campaign_of(filters.touch) == filters.campaign)
    if filters.salesperson_id is not None:
        conditions.append(Lead.assigned_user_id == filters.salesperson_id)
    return conditions


def created_in(filters: FunnelFilters) -> ColumnElement[bool]:
    return and_(Lead.created_at >= filters.period.since, Lead.created_at < filters.period.until)


def _candidates(filters: FunnelFilters, definition: str) -> list[ColumnElement[bool]]:
    """Which leads a definition looks at: those created in the period (cohort); for activity,
    also those with a stage change or a show in it."""
    where = lead_conditions(filters)
    if definition == "cohort":
        return [*where, created_in(filters)]
    since, until = filters.period.since, filters.period.until
    moved = select(LeadStageChange.lead_id).where(
        LeadStageChange.changed_at >= since, LeadStageChange.changed_at < until
    )
    showed = select(Appointment.lead_id).where(
        Appointment.status == "showed",
        Appointment.starts_at >= since,
        Appointment.starts_at < until,
        Appointment.lead_id.is_not(None),
    )
    arrived = select(ShowroomVisit.lead_id).where(
        ShowroomVisit.arrived_at >= since,
        ShowroomVisit.arrived_at < until,
        ShowroomVisit.lead_id.is_not(None),
    )
    return [
        *where,
        Lead.created_at < until,
        or_(created_in(filters), Lead.id.in_(moved), Lead.id.in_(showed), Lead.id.in_(arrived)),
    ]


def lead_facts(session: Session, filters: FunnelFilters, definition: str) -> Subquery:
    """One row per lead the definition looks at: the lead's own columns, `rank` (the furthest
    step ever reached, 0 for none), `at_1`..`at_6` (when it first reached each step, by its
    stage history and shows), `shown_at`, `in_period` (created in the period).

    One pass: the leads joined to their stage changes, showed appointments and floor visits,
    grouped by lead. Only max and min are taken, so the rows the joins multiply change nothing.
    """
    rank = stage_rank(LeadStageChange.to_stage)
    showed = Appointment.__table__.alias("showed")
    visit = ShowroomVisit.__table__.alias("visit")
    lead_columns = (Lead.id, Lead.channel, Lead.stage, Lead.lost_reason, Lead.created_at)
    per_lead = (
        select(
            Lead.id.label("lead_id"),
            Lead.channel.label("channel"),
            Lead.stage.label("stage"),
            Lead.lost_reason.label("lost_reason"),
            Lead.created_at.label("created_at"),
            func.max(rank).label("max_rank"),
            *(
                func.min(case((rank >= step, LeadStageChange.changed_at))).label(f"first_{step}")
                for step in range(1, len(STEPS) + 1)
            ),
            func.min(showed.c.starts_at).label("showed_at"),
            func.min(visit.c.arrived_at).label("visited_at"),
        )
        .select_from(Lead)
        .outerjoin(LeadStageChange, LeadStageChange.lead_id == Lead.id)
        .outerjoin(showed, and_(showed.c.lead_id == Lead.id, showed.c.status == "showed"))
        .outerjoin(visit, visit.c.lead_id == Lead.id)
        .where(*_candidates(filters, definition))
        .group_by(*lead_columns)
        .subquery("per_lead")
    )
    shown_at = earliest(session, per_lead.c.showed_at, per_lead.c.visited_at)
    shown_rank = case((shown_at.is_not(None), SHOW_RANK), else_=0)
    at_steps = []
    for step in range(1, len(STEPS) + 1):
        changed = getattr(per_lead.c, f"first_{step}")
        at = earliest(session, changed, shown_at) if step <= SHOW_RANK else changed
        at_steps.append(at.label(f"at_{step}"))
    in_period = and_(
        per_lead.c.created_at >= filters.period.since, per_lead.c.created_at < filters.period.until
    )
    return select(
        per_lead.c.lead_id,
        per_lead.c.channel,
        per_lead.c.stage,
        per_lead.c.lost_reason,
        per_lead.c.created_at,
        greatest(
            session,
            stage_rank(per_lead.c.stage),
            func.coalesce(per_lead.c.max_rank, 0),
            shown_rank,
        ).label("rank"),
        *at_steps,
        shown_at.label("shown_at"),
        case((in_period, 1), else_=0).label("in_period"),
    ).subquery("facts")


# --- what a cell counts ---------------------------------------------------------------------
CELL_KINDS = ("leads", "valid", *STEPS, "lost", "open")


def cell_condition(facts: Subquery, filters: FunnelFilters, definition: str, kind: str) -> Any:
    """Whether a lead row of `facts` counts in the cell `kind` (leads, valid, a step, lost,
    open) under the definition."""
    valid = facts.c.stage.not_in(NOT_LEADS)
    in_period = facts.c.in_period == 1
    if kind == "leads":
        return in_period
    if kind == "valid":
        return and_(in_period, valid)
    if kind == "lost":
        return and_(in_period, facts.c.stage == "lost")
    if kind == "open":
        return and_(in_period, facts.c.stage.in_(OPEN_STAGES))
    step = RANK_OF_STEP[kind]
    if definition == "cohort":
        return and_(in_period, valid, facts.c.rank >= step)
    at = getattr(facts.c, f"at_{step}")
    return and_(valid, at >= filters.period.since, at < filters.period.until)


def step_counts(
    session: Session, filters: FunnelFilters, definition: str
) -> dict[str, dict[str, int]]:
    """channel -> cell kind -> leads, for every channel with any."""
    facts = lead_facts(session, filters, definition)
    columns = [
        func.sum(case((cell_condition(facts, filters, definition, kind), 1), else_=0)).label(kind)
        for kind in CELL_KINDS
    ]
    rows = session.execute(select(facts.c.channel, *columns).group_by(facts.c.channel))
    return {
        row.channel: {kind: int(getattr(row, kind) or 0) for kind in CELL_KINDS} for row in rows
    }


def lost_reasons(session: Session, filters: FunnelFilters) -> dict[str, dict[str, int]]:
    """channel -> lost reason -> leads of the period lost for it ("other" when none given)."""
    reason = func.coalesce(Lead.lost_reason, literal("other"))
    rows = session.execute(
        select(Lead.channel, reason, func.count())
        .where(*lead_conditions(filters), created_in(filters), Lead.stage == "lost")
        .group_by(Lead.channel, reason)
    )
    found: dict[str, dict[str, int]] = {}
    for channel, why, n in rows:
        found.setdefault(channel, {})[why] = int(n)
    return found


def cell_leads(
    session: Session,
    filters: FunnelFilters,
    definition: str,
    kind: str,
    *,
    lost_reason: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[int]]:
    """The leads behind a cell: their number, and one page of their ids (newest first)."""
    facts = lead_facts(session, filters, definition)
    condition = cell_condition(facts, filters, definition, kind)
    if lost_reason is not None:
        condition = and_(condition, func.coalesce(facts.c.lost_reason, "other") == lost_reason)
    total = session.scalar(select(func.count()).select_from(facts).where(condition)) or 0
    ids = session.scalars(
        select(facts.c.lead_id)
        .where(condition)
        .order_by(facts.c.created_at.desc(), facts.c.lead_id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return total, list(ids)


def monthly_trend(
    session: Session, filters: FunnelFilters, months: list[tuple[datetime, datetime]]
) -> list[tuple[int, int]]:
    """(valid leads created, leads first sold) in each [start, end) of `months`: two grouped
    reads by the indexes on lead.created_at and lead_stage_change.changed_at."""
    if not months:
        return []
    start, end = months[0][0], months[-1][1]

    def bucket(column: Any) -> ColumnElement[int]:
        return case(
            *((and_(column >= a, column < b), index) for index, (a, b) in enumerate(months)),
            else_=-1,
        )

    month = bucket(Lead.created_at).label("m")
    created = session.execute(
        select(month, func.count())
        .where(
            *lead_conditions(filters),
            Lead.created_at >= start,
            Lead.created_at < end,
            Lead.stage.not_in(NOT_LEADS),
        )
        .group_by(month)
    ).all()
    sales = first_sales(filters, start, end)
    sold_month = bucket(sales.c.sold_at).label("m")
    sold = session.execute(select(sold_month, func.count()).group_by(sold_month)).all()
    leads_by = {int(m): int(n) for m, n in created}
    sold_by = {int(m): int(n) for m, n in sold}
    return [(leads_by.get(i, 0), sold_by.get(i, 0)) for i in range(len(months))]


SOLD_STAGES = tuple(stage for stage, rank in STAGE_RANK.items() if rank == len(STEPS))


def first_sales(filters: FunnelFilters, since: datetime, until: datetime) -> Subquery:
    """(lead_id, sold_at): valid leads of the filters (but their period) first sold in
    [since, until), by their stage history."""
    earlier = aliased(LeadStageChange)
    sold_before = exists().where(
        earlier.lead_id == LeadStageChange.lead_id,
        earlier.to_stage.in_(SOLD_STAGES),
        earlier.changed_at < since,
    )
    return (
        select(LeadStageChange.lead_id, func.min(LeadStageChange.changed_at).label("sold_at"))
        .join(Lead, Lead.id == LeadStageChange.lead_id)
        .where(
            LeadStageChange.to_stage.in_(SOLD_STAGES),
            LeadStageChange.changed_at >= since,
            LeadStageChange.changed_at < until,
            *lead_conditions(filters),
            Lead.stage.not_in(NOT_LEADS),
            ~sold_before,
        )
        .group_by(LeadStageChange.lead_id)
        .subquery("first_sales")
    )


def no_jit(session: Session) -> None:
    """PostgreSQL compiles a query of this size to machine code first (JIT), which costs more
    than it saves here (measured: 200 to 375 ms of 'emission' per funnel query): off for the
    rest of this transaction."""
    if dialect_of(session) == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def campaigns(session: Session, filters: FunnelFilters, limit: int = 200) -> list[str]:
    """The campaign names of the leads in the period (any channel), for the filter's list."""
    name = campaign_of(filters.touch)
    where = [filters.scope.where(Lead.dealer_id.expression), created_in(filters), name.is_not(None)]
    query = select(name).where(*where).distinct().order_by(name).limit(limit)
    return [value for value in session.scalars(query) if value]


def salespeople(session: Session, filters: FunnelFilters) -> list[tuple[int, str]]:
    """Staff who can be given leads (active or not: their past leads still count), working at
    the dealers in scope (anyone's, for the network), by name."""
    query = select(StaffUser.id, StaffUser.name).where(
        StaffUser.role.in_(roles_with(Permission.LEADS))
    )
    if filters.scope.dealer_ids is not None:
        query = query.where(
            StaffUser.id.in_(
                select(StaffDealer.user_id).where(
                    StaffDealer.dealer_id.in_(sorted(filters.scope.dealer_ids))
                )
            )
        )
    return [(uid, name) for uid, name in session.execute(query.order_by(StaffUser.name))]
