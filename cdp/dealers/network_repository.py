"""The queries of the network view: every dealer's figures side by side, for one period.

One query per family of figures, each grouped by dealer, so the page costs the same few queries
at 2 dealers or 200 (never a query per dealer):

- the period's leads (`period_leads`), in one pass: per dealer the leads that came in during the
  period (invalid and duplicates left out, as in the funnel), those still open with no
  salesperson, and those that reached a sale (a lead sold and later lost still counts, as in the
  funnel: docs/funnel.md); and per lead when it came in and the seconds to its first contact
  attempt (of any outcome: speed to lead counts the attempt, not the answer). Each lead carries
  both (its progress, cdp/leads/progress.py: `furthest_step`, `first_contact_s`), so this is a
  range read by the index on lead.created_at, no history joined;
- appointments (`appointment_outcomes`): visits and test drives of the period that showed or not.

Rows hold `dealer_id` None for the network's unassigned queue (leads no dealer holds yet).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    and_,
    case,
    func,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.orm import Session

from cdp.dealers.service import DEFAULT_SLA_MINUTES
from cdp.dealers.visibility import DealerScope
from cdp.leads.progress import STEPS
from cdp.models import OPEN_STAGES, Appointment, Dealer, Lead
from cdp.sql import dialect_of

NOT_LEADS = ("invalid", "duplicate")
SOLD_STEP = len(STEPS)  # a lead's furthest step when it was ever sold (cdp/leads/progress.py)
# Handovers are not sales appointments: the show rate counts visits and test drives.
SHOW_RATE_KINDS = ("visit", "test_drive")


@dataclass(slots=True)
class LeadCounts:
    leads: int = 0
    unassigned: int = 0
    sold: int = 0
    contacted: int = 0  # with a first contact attempt
    # Contacted within the SLA: by the lead's own due seconds (cdp/leads/sla_due.py), or, for
    # a lead without them, within the SLA's minutes of wall-clock time (within it whatever the
    # opening hours: the due time is never sooner). The others need no clock either way.
    contacted_soon: int = 0


@dataclass(slots=True)
class FirstContacts:
    """A dealer's leads of the period whose SLA verdict is not settled by the counts: those
    not contacted yet (due or not by now), and those without their due seconds contacted
    later than the SLA's minutes (the opening hours tell). When each came in, the seconds to
    its first contact attempt (None: not yet) and its due seconds (None: not known). Lists,
    not an object per lead: there may be thousands."""

    created_at: list[datetime] = field(default_factory=list)
    seconds_to_contact: list[float | None] = field(default_factory=list)
    due_seconds: list[float | None] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AppointmentOutcomes:
    showed: int
    no_show: int


def dealers_in(session: Session, scope: DealerScope) -> list[Dealer]:
    """Every dealer the caller sees, inactive ones too (their past figures still count)."""
    dealers = session.scalars(select(Dealer).order_by(Dealer.code))
    return [dealer for dealer in dealers if scope.sees(dealer.id)]


def _leads_of_period(
    scope: DealerScope, since: datetime, until: datetime
) -> list[ColumnElement[bool]]:
    return [
        Lead.created_at >= since,
        Lead.created_at < until,
        Lead.stage.not_in(NOT_LEADS),
        scope.where(Lead.dealer_id.expression),
    ]


@dataclass(slots=True)
class PeriodLeads:
    counts: dict[int | None, LeadCounts] = field(default_factory=dict)
    # The median seconds to the first contact attempt (of the leads contacted, a contact
    # logged before the lead counting as 0), per dealer and over every lead read (`total`).
    medians: dict[int | None, float] = field(default_factory=dict)
    total_median: float | None = None
    needing_clock: dict[int | None, FirstContacts] = field(default_factory=dict)


def _period(*columns: Any) -> Select[Any]:
    """A read of leads beside their dealer (its SLA minutes)."""
    return select(*columns).select_from(
        Lead.__table__.outerjoin(Dealer.__table__, Dealer.id == Lead.dealer_id)
    )


def period_leads(
    session: Session, scope: DealerScope, *, since: datetime, until: datetime
) -> PeriodLeads:
    """Per dealer, the period's lead counts, the median time to first contact and the leads
    whose SLA verdict needs the dealer's opening hours. Each lead carries its progress
    (cdp/leads/progress.py: `furthest_step`, `first_contact_s`), so these are reads of the
    period's leads by the index on lead.created_at, no history joined; the counts and medians
    are the database's, and only the leads contacted late or not yet come back one by one."""
    seconds, due = Lead.first_contact_s, Lead.sla_due_s
    # The SLA's minutes, as wall-clock seconds, of the lead's dealer (the default without one).
    soon = func.coalesce(Dealer.sla_first_contact_minutes, DEFAULT_SLA_MINUTES) * 60
    within = case((due.is_not(None), seconds <= due), else_=seconds <= soon)
    where = _leads_of_period(scope, since, until)
    # A sale: the lead's furthest step is the sale when it is sold or delivered now or ever was
    # (a stage change to either); one sold and later lost still counts, as in the funnel.
    aggregates = (
        func.count(),
        func.sum(case((Lead.stage.in_(OPEN_STAGES) & Lead.assigned_user_id.is_(None), 1), else_=0)),
        func.sum(case((Lead.furthest_step >= SOLD_STEP, 1), else_=0)),
        func.count(seconds),
        func.sum(case((within, 1), else_=0)),
    )
    found = PeriodLeads()
    if dialect_of(session) == "postgresql":
        # ROLLUP: each dealer's row and the total (GROUPING tells the total from the row of
        # leads no dealer holds); the medians by percentile_cont beside the counts.
        # A contact logged before the lead counts as 0 (not greatest(): it would make the
        # leads not contacted 0 too).
        floored = case((seconds < 0, 0.0), else_=seconds)
        # A quarter's 40,000 leads sorted by dealer for the medians spill to disk at the
        # default 4 MB (bench/funnel.py: 215 ms, 100 ms in memory): more for this transaction.
        session.execute(text("SET LOCAL work_mem = '16MB'"))
        median = func.percentile_cont(0.5).within_group(floored)
        rows = session.execute(
            _period(func.grouping(Lead.dealer_id), Lead.dealer_id, *aggregates, median)
            .where(*where)
            .group_by(func.rollup(Lead.dealer_id))
        )
        for total, dealer_id, *figures, middle in rows:
            value = None if middle is None else float(middle)
            if total:
                found.total_median = value
                continue
            found.counts[dealer_id] = LeadCounts(*(int(n or 0) for n in figures))
            if value is not None:
                found.medians[dealer_id] = value
    else:  # SQLite (small sets): the seconds fetched, the medians taken here
        rows = session.execute(
            _period(Lead.dealer_id, *aggregates).where(*where).group_by(Lead.dealer_id)
        )
        for dealer_id, *figures in rows:
            found.counts[dealer_id] = LeadCounts(*(int(n or 0) for n in figures))
        by_dealer: dict[int | None, list[float]] = defaultdict(list)
        for dealer_id, value in session.execute(
            select(Lead.dealer_id, seconds).where(*where, seconds.is_not(None))
        ):
            by_dealer[dealer_id].append(max(0.0, value or 0.0))  # a contact logged early: 0
        found.medians = {d: statistics.median(values) for d, values in by_dealer.items()}
        every = [value for values in by_dealer.values() for value in values]
        found.total_median = statistics.median(every) if every else None
    created: ColumnElement[datetime] = Lead.created_at.expression
    if dialect_of(session) == "postgresql":
        # Sessions are in UTC (cdp/db.py): psycopg's datetimes are already what UtcDateTime
        # would make of them, so they skip its per-value conversion.
        created = type_coerce(Lead.created_at, DateTime(timezone=True))
    late = session.execute(
        _period(Lead.dealer_id, created, seconds, due).where(
            *where, or_(seconds.is_(None), and_(due.is_(None), seconds > soon))
        )
    )
    clocked: dict[int | None, FirstContacts] = defaultdict(FirstContacts)
    for dealer_id, created_at, contact, due_s in late:
        leads = clocked[dealer_id]
        leads.created_at.append(created_at)
        leads.seconds_to_contact.append(contact)
        leads.due_seconds.append(due_s)
    found.needing_clock = dict(clocked)
    return found


def appointment_outcomes(
    session: Session, scope: DealerScope, *, since: datetime, until: datetime
) -> dict[int | None, AppointmentOutcomes]:
    showed = case((Appointment.status == "showed", 1), else_=0)
    no_show = case((Appointment.status == "no_show", 1), else_=0)
    rows = session.execute(
        select(Appointment.dealer_id, func.sum(showed), func.sum(no_show))
        .where(
            Appointment.starts_at >= since,
            Appointment.starts_at < until,
            Appointment.kind.in_(SHOW_RATE_KINDS),
            Appointment.status.in_(("showed", "no_show")),
            scope.where(Appointment.dealer_id.expression),
        )
        .group_by(Appointment.dealer_id)
    )
    return {
        dealer_id: AppointmentOutcomes(showed=int(yes or 0), no_show=int(no or 0))
        for dealer_id, yes, no in rows
    }
