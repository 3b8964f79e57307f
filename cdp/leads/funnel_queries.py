"""The funnel's queries: every figure an aggregate in SQL over the leads' own rows, never a
lead per row in Python (a network's year is half a million leads).

Each lead carries its progress (`cdp.leads.progress`: the furthest step it reached and when it
first reached each step, kept in step with its history), so both definitions read one row a
lead:

- cohort: leads created in the period, each counted at the furthest step it reached;
- activity: leads counted at a step when they first reached it inside the period.

The drill-down (`cell_leads`) selects by the same conditions, so a cell's leads are its count
exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, select, text, true, tuple_
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission
from cdp.leads import tally
from cdp.leads.checks import roles_with
from cdp.leads.funnel_filters import FunnelFilters
from cdp.leads.progress import STEP_AT, STEPS
from cdp.models import OPEN_STAGES, Lead, StaffDealer, StaffUser
from cdp.sql import dialect_of

NOT_LEADS = ("invalid", "duplicate")
FIVE_MINUTES = 300
ONE_HOUR = 3600
CAMPAIGN_LIMIT = 200  # names in the campaign filter's list
RANK_OF_STEP = {step: index + 1 for index, step in enumerate(STEPS)}


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


def scope_only(filters: FunnelFilters) -> bool:
    """No filter but the dealers (and the period): no channel, campaign nor salesperson."""
    return not (filters.channel or filters.campaign or filters.salesperson_id is not None)


def created_in(filters: FunnelFilters) -> ColumnElement[bool]:
    return and_(Lead.created_at >= filters.period.since, Lead.created_at < filters.period.until)


def valid_lead() -> ColumnElement[bool]:
    return Lead.stage.not_in(NOT_LEADS)


def reached_in(filters: FunnelFilters, step: str) -> ColumnElement[bool]:
    at = STEP_AT[step]
    return and_(at >= filters.period.since, at < filters.period.until)


# --- what a cell counts ---------------------------------------------------------------------
CELL_KINDS = ("leads", "valid", *STEPS, "lost", "open")
# The why's counts, over the valid leads that came in during the period whatever the
# definition: first contacted (at all, within 5 minutes, within an hour), never contacted,
# reached by a contact attempt, sold (the transaction cycle's leads).
WHY_CELLS = {
    "contacted": Lead.first_contact_s.is_not(None),
    "within_5_min": Lead.first_contact_s <= FIVE_MINUTES,
    "within_1_hour": Lead.first_contact_s <= ONE_HOUR,
    "not_contacted": Lead.first_contact_s.is_(None),
    "reached_by_contact": Lead.attempts_to_reach.is_not(None),
    "sold_dated": Lead.sold_after_s.is_not(None),
}
DRILL_CELLS = (*CELL_KINDS, *WHY_CELLS)


def cell_condition(filters: FunnelFilters, definition: str, kind: str) -> ColumnElement[bool]:
    """Whether a lead of the filters' dealers, channel, campaign and salesperson counts in the
    cell `kind` (leads, valid, a step, lost, open) under the definition."""
    if kind == "leads":
        return created_in(filters)
    if kind == "valid":
        return and_(created_in(filters), valid_lead())
    if kind == "lost":
        return and_(created_in(filters), Lead.stage == "lost")
    if kind == "open":
        return and_(created_in(filters), Lead.stage.in_(OPEN_STAGES))
    if kind in WHY_CELLS:
        return and_(created_in(filters), valid_lead(), WHY_CELLS[kind])
    if definition == "cohort":
        return and_(created_in(filters), valid_lead(), Lead.furthest_step >= RANK_OF_STEP[kind])
    return and_(valid_lead(), reached_in(filters, kind))


@dataclass(frozen=True)
class Cohort:
    """The leads created in the period, per channel: each cell's count (the cohort definition)
    and the lost ones by reason ("other" when none was given)."""

    counts: dict[str, dict[str, int]]  # channel -> cell kind -> leads
    lost: dict[str, dict[str, int]]  # channel -> lost reason -> leads
    # valid leads a contact attempt reached, by the attempts it took (the why's median)
    attempts: dict[int, int]
    # the campaign filter's list, when read along (`cohort(with_campaigns=True)`)
    campaigns: list[str] | None = None
    # the why's counts, when the tally gave them (`tally.CohortTally`): else the why reads them
    reach: Reach | None = None


@dataclass(frozen=True)
class Reach:
    """Of the period's valid leads: how many, first contacted (at all, within 5 minutes, within
    an hour), sold with a date."""

    leads: int
    contacted: int
    within_5_min: int
    within_1_hour: int
    sold: int


def _cell_counts() -> dict[str, int]:
    return dict.fromkeys(CELL_KINDS, 0)


def _count_in(
    counts: dict[str, dict[str, int]], channel: str, stage: str, furthest: int | None, n: int
) -> None:
    """Count n leads of a channel at a stage and furthest step into its cells."""
    cells = counts.setdefault(channel, _cell_counts())
    cells["leads"] += n
    if stage in OPEN_STAGES:
        cells["open"] += n
    if stage == "lost":
        cells["lost"] += n
    if stage in NOT_LEADS:
        return
    cells["valid"] += n
    for step in STEPS[: max(0, min(furthest or 0, len(STEPS)))]:
        cells[step] += n


def _tallied(session: Session, filters: FunnelFilters, with_campaigns: bool) -> Cohort:
    """The cohort from the network's tally (`cdp.leads.tally`): the same cells."""
    found = tally.cohort(session, filters)
    counts: dict[str, dict[str, int]] = {}
    for channel, stage, furthest, n in found.stages:
        _count_in(counts, channel, stage, furthest, n)
    lost: dict[str, dict[str, int]] = {}
    for channel, reason, n in found.lost:
        reasons = lost.setdefault(channel, {})
        reasons[reason] = reasons.get(reason, 0) + n
    contacts = found.contacts
    reach = Reach(
        leads=sum(contacts.values()),
        contacted=sum(n for kind, n in contacts.items() if kind != tally.NOT_CONTACTED),
        within_5_min=contacts.get(tally.WITHIN_5_MIN, 0),
        within_1_hour=contacts.get(tally.WITHIN_5_MIN, 0) + contacts.get(tally.WITHIN_1_HOUR, 0),
        sold=found.sold_dated,
    )
    names = tally.campaigns(session, filters, CAMPAIGN_LIMIT) if with_campaigns else None
    return Cohort(counts, lost, dict(found.attempts), names, reach)


def cohort(session: Session, filters: FunnelFilters, *, with_campaigns: bool = False) -> Cohort:
    """One grouped read of the period's leads (by channel, stage, furthest step, lost reason
    and attempts until reached: a few thousand groups however many leads), counted into cells
    here. The attempts come along so the why takes their median from these counts, not from
    sorting every lead's (a small integer: measured 20 ms of a 90 days' network aggregate).

    `with_campaigns`: the filter list's campaign names too, when they are the same leads (no
    filter but the dealers and the period) on PostgreSQL: a second grouping set of the same
    read, sparing `campaigns` its own read of the period's leads."""
    if tally.serves(session, filters):
        return _tallied(session, filters, with_campaigns)
    reason = func.coalesce(Lead.lost_reason, literal("other"))
    keys = (Lead.channel, Lead.stage, Lead.furthest_step, reason, Lead.attempts_to_reach)
    where = [*lead_conditions(filters), created_in(filters)]
    names: list[str] | None = None
    if with_campaigns and dialect_of(session) == "postgresql" and scope_only(filters):
        name = campaign_of(filters.touch)
        found = session.execute(
            select(*keys, name, func.grouping(name), func.count())
            .where(*where)
            .group_by(func.grouping_sets(tuple_(*keys), tuple_(name)))
            .order_by(name)  # as `campaigns` orders them (the database's collation)
        ).all()
        rows: Any = [(*row[:5], row[7]) for row in found if row[6] == 1]
        named = [row[5] for row in found if row[6] == 0 and row[5] is not None]
        names = [value for value in named[:CAMPAIGN_LIMIT] if value]
    else:
        rows = session.execute(select(*keys, func.count()).where(*where).group_by(*keys))
    counts: dict[str, dict[str, int]] = {}
    lost: dict[str, dict[str, int]] = {}
    attempts: dict[int, int] = {}
    for channel, stage, furthest, why, tries, n in rows:
        _count_in(counts, channel, stage, furthest, n)
        if stage == "lost":
            reasons = lost.setdefault(channel, {})
            reasons[why] = reasons.get(why, 0) + n
        if tries is not None and stage not in NOT_LEADS:
            attempts[tries] = attempts.get(tries, 0) + n
    return Cohort(counts, lost, attempts, names)


def activity_counts(
    session: Session, filters: FunnelFilters, period_cohort: Cohort
) -> dict[str, dict[str, int]]:
    """The activity definition: leads, valid, lost and open as the cohort's; each step the
    valid leads that first reached it in the period (read by the index on last_step_at: a lead
    that reached a step in the period moved last on or after its start)."""
    columns = [
        func.sum(case((reached_in(filters, step), 1), else_=0)).label(step) for step in STEPS
    ]
    rows = session.execute(
        select(Lead.channel, *columns)
        .where(
            *lead_conditions(filters),
            valid_lead(),
            Lead.created_at < filters.period.until,
            Lead.last_step_at >= filters.period.since,
        )
        .group_by(Lead.channel)
    )
    counts = {
        channel: {**cells, **dict.fromkeys(STEPS, 0)}
        for channel, cells in period_cohort.counts.items()
    }
    for row in rows:
        cells = counts.setdefault(row.channel, dict.fromkeys(CELL_KINDS, 0))
        for step in STEPS:
            cells[step] = int(getattr(row, step) or 0)
    return counts


def step_counts(
    session: Session, filters: FunnelFilters, definition: str
) -> dict[str, dict[str, int]]:
    """channel -> cell kind -> leads, for every channel with any."""
    period_cohort = cohort(session, filters)
    if definition == "cohort":
        return period_cohort.counts
    return activity_counts(session, filters, period_cohort)


def lost_reasons(session: Session, filters: FunnelFilters) -> dict[str, dict[str, int]]:
    """channel -> lost reason -> leads of the period lost for it ("other" when none given)."""
    return cohort(session, filters).lost


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
    where = [*lead_conditions(filters), cell_condition(filters, definition, kind)]
    if lost_reason is not None:
        where.append(func.coalesce(Lead.lost_reason, "other") == lost_reason)
    if definition == "activity" and kind in STEPS:
        where.append(Lead.last_step_at >= filters.period.since)  # the same rows, by its index
    total = session.scalar(select(func.count()).select_from(Lead).where(*where)) or 0
    ids = session.scalars(
        select(Lead.id)
        .where(*where)
        .order_by(Lead.created_at.desc(), Lead.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return total, list(ids)


def _month_of(session: Session, column: Any, months: list[tuple[datetime, datetime]]) -> Any:
    """The index (0 ..) of the month in `months` holding `column`'s moment; outside: -1 or
    len(months) on PostgreSQL (width_bucket's binary search), -1 on SQLite (a CASE)."""
    if dialect_of(session) == "postgresql":
        bounds = [start for start, _ in months] + [months[-1][1]]
        return func.width_bucket(column, literal(bounds)) - 1
    return case(
        *((and_(column >= a, column < b), index) for index, (a, b) in enumerate(months)),
        else_=-1,
    )


def monthly_trend(
    session: Session, filters: FunnelFilters, months: list[tuple[datetime, datetime]]
) -> list[tuple[int, int]]:
    """(valid leads created, leads first sold) in each [start, end) of `months`: grouped reads
    by the indexes on lead.created_at and lead.step_sold_at.

    A network's year is a quarter of a million leads, and reading each one's stage from the
    table cost more than the rest of the page. So with no filter but the period, every lead
    of each month is counted from the index alone, less the invalid and duplicate ones (their
    own small partial indexes, migration 0034). A filter (a dealer, a channel, a campaign, a
    salesperson) reads the table anyway, for its fewer leads: one read, the stage checked."""
    if not months:
        return []
    if tally.serves(session, filters):
        return tally.monthly_trend(session, filters, months)
    start, end = months[0][0], months[-1][1]
    index_only = filters.scope.network and scope_only(filters)
    parts: list[tuple[int, ColumnElement[bool]]] = [(1, valid_lead())]
    if index_only:
        parts = [(1, true()), (-1, Lead.stage.in_(NOT_LEADS))]
    found: list[dict[int, int]] = []
    for column in (Lead.created_at, Lead.step_sold_at):
        month = _month_of(session, column, months).label("m")
        counted: dict[int, int] = {}
        for sign, which in parts:
            rows = session.execute(
                select(month, func.count())
                .where(*lead_conditions(filters), which, column >= start, column < end)
                .group_by(month)
            )
            for m, n in rows:
                counted[int(m)] = counted.get(int(m), 0) + sign * int(n)
        found.append(counted)
    leads_by, sold_by = found
    return [(leads_by.get(i, 0), sold_by.get(i, 0)) for i in range(len(months))]


def no_jit(session: Session) -> None:
    """PostgreSQL compiles a query of this size to machine code first (JIT), which costs more
    than it saves here (measured: 200 to 375 ms of 'emission' per funnel query): off for the
    rest of this transaction."""
    if dialect_of(session) == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def campaigns(session: Session, filters: FunnelFilters, limit: int = CAMPAIGN_LIMIT) -> list[str]:
    """The campaign names of the leads in the period (any channel), for the filter's list."""
    if tally.serves(session, replace(filters, campaign=None, salesperson_id=None, channel=None)):
        return tally.campaigns(session, filters, limit)
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
