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

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Subquery

from cdp.leads.funnel_filters import FunnelFilters, Period
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


def _candidates(filters: FunnelFilters, definition: str) -> Select[Any]:
    """The ids of the leads a definition looks at: created in the period (cohort); or, for
    activity, also those with a stage change or a show in it."""
    where = lead_conditions(filters)
    if definition == "cohort":
        return select(Lead.id).where(*where, created_in(filters))
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
    return select(Lead.id).where(
        *where,
        Lead.created_at < until,
        or_(created_in(filters), Lead.id.in_(moved), Lead.id.in_(showed), Lead.id.in_(arrived)),
    )


def lead_facts(session: Session, filters: FunnelFilters, definition: str) -> Subquery:
    """One row per lead the definition looks at: the lead's own columns, `rank` (the furthest
    step ever reached, 0 for none), `at_1`..`at_6` (when it first reached each step, by its
    stage history and shows), `shown_at`, `in_period` (created in the period)."""
    ids = _candidates(filters, definition).cte("funnel_lead")
    rank = stage_rank(LeadStageChange.to_stage)
    changes = (
        select(
            LeadStageChange.lead_id.label("lead_id"),
            func.max(rank).label("max_rank"),
            *(
                func.min(case((rank >= step, LeadStageChange.changed_at))).label(f"first_{step}")
                for step in range(1, len(STEPS) + 1)
            ),
        )
        .where(LeadStageChange.lead_id.in_(select(ids.c.id)))
        .group_by(LeadStageChange.lead_id)
        .subquery("changes")
    )
    show_events = union_all(
        select(Appointment.lead_id.label("lead_id"), Appointment.starts_at.label("at")).where(
            Appointment.status == "showed", Appointment.lead_id.in_(select(ids.c.id))
        ),
        select(ShowroomVisit.lead_id, ShowroomVisit.arrived_at).where(
            ShowroomVisit.lead_id.in_(select(ids.c.id))
        ),
    ).subquery("show_events")
    shows = (
        select(show_events.c.lead_id, func.min(show_events.c.at).label("shown_at"))
        .group_by(show_events.c.lead_id)
        .subquery("shows")
    )
    shown_rank = case((shows.c.shown_at.is_not(None), SHOW_RANK), else_=0)
    at_steps = []
    for step in range(1, len(STEPS) + 1):
        changed = getattr(changes.c, f"first_{step}")
        at_steps.append(
            (earliest(session, changed, shows.c.shown_at) if step <= SHOW_RANK else changed).label(
                f"at_{step}"
            )
        )
    return (
        select(
            Lead.id.label("lead_id"),
            Lead.channel.label("channel"),
            Lead.stage.label("stage"),
            Lead.lost_reason.label("lost_reason"),
            Lead.created_at.label("created_at"),
            greatest(
                session,
                stage_rank(Lead.stage),
                func.coalesce(changes.c.max_rank, 0),
                shown_rank,
            ).label("rank"),
            *at_steps,
            shows.c.shown_at.label("shown_at"),
            case((created_in(filters), 1), else_=0).label("in_period"),
        )
        .select_from(Lead)
        .join(ids, ids.c.id == Lead.id)
        .outerjoin(changes, changes.c.lead_id == Lead.id)
        .outerjoin(shows, shows.c.lead_id == Lead.id)
        .subquery("facts")
    )


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
    """(valid leads created, leads first sold) in each [start, end) of `months`."""
    if not months:
        return []
    start, end = months[0][0], months[-1][1]
    period = Period("trend", "", start, end, filters.period.start, filters.period.end)
    wide = replace(filters, period=period, definition="activity")
    facts = lead_facts(session, wide, "activity")

    def bucket(column: Any) -> ColumnElement[int]:
        return case(
            *((and_(column >= a, column < b), index) for index, (a, b) in enumerate(months)),
            else_=-1,
        )

    valid = facts.c.stage.not_in(NOT_LEADS)
    created = session.execute(
        select(bucket(facts.c.created_at).label("m"), func.count())
        .where(valid, facts.c.in_period == 1)
        .group_by("m")
    ).all()
    sold_at = getattr(facts.c, f"at_{len(STEPS)}")
    sold = session.execute(
        select(bucket(sold_at).label("m"), func.count())
        .where(valid, sold_at.is_not(None))
        .group_by("m")
    ).all()
    leads_by = {int(m): int(n) for m, n in created}
    sold_by = {int(m): int(n) for m, n in sold}
    return [(leads_by.get(i, 0), sold_by.get(i, 0)) for i in range(len(months))]


def campaigns(session: Session, filters: FunnelFilters, limit: int = 200) -> list[str]:
    """The campaign names of the leads in the period (any channel), for the filter's list."""
    name = campaign_of(filters.touch)
    where = [filters.scope.where(Lead.dealer_id.expression), created_in(filters), name.is_not(None)]
    query = select(name).where(*where).distinct().order_by(name).limit(limit)
    return [value for value in session.scalars(query) if value]


def salespeople(session: Session, filters: FunnelFilters) -> list[tuple[int, str]]:
    """Staff working at the dealers in scope (every active one for the network) who are or
    were given leads, by name."""
    query = select(StaffUser.id, StaffUser.name).where(
        StaffUser.role.in_(("sales", "manager", "admin"))
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
