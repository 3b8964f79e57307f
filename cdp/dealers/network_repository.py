"""The queries of the network view: every dealer's figures side by side, for one period.

One query per family of figures, each grouped by dealer, so the page costs the same few queries
at 2 dealers or 200 (never a query per dealer):

- the period's leads (`period_leads`), in one pass: per dealer the leads that came in during the
  period (invalid and duplicates left out, as in the funnel), those still open with no
  salesperson, and those that reached a sale (a lead sold and later lost still counts, as in the
  funnel: docs/funnel.md); and per lead when it came in and its first contact attempt (of any
  outcome: speed to lead counts the attempt, not the answer). Indexes: lead.created_at and the
  partial one on the stage changes that made a sale (migration 0032);
- appointments (`appointment_outcomes`): visits and test drives of the period that showed or not.

Rows hold `dealer_id` None for the network's unassigned queue (leads no dealer holds yet).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Float,
    case,
    cast,
    exists,
    extract,
    func,
    select,
    text,
    type_coerce,
)
from sqlalchemy.orm import Session

from cdp.dealers.visibility import DealerScope
from cdp.models import OPEN_STAGES, Appointment, ContactAttempt, Dealer, Lead, LeadStageChange
from cdp.sql import dialect_of

NOT_LEADS = ("invalid", "duplicate")
SOLD_STAGES = ("sold", "delivered")
# Handovers are not sales appointments: the show rate counts visits and test drives.
SHOW_RATE_KINDS = ("visit", "test_drive")


@dataclass(frozen=True, slots=True)
class LeadCounts:
    leads: int
    unassigned: int
    sold: int


@dataclass(slots=True)
class FirstContacts:
    """A dealer's leads of the period: when each came in and the seconds to its first contact
    attempt (None: not contacted yet), worked out by the database. Two lists, not an object
    per lead: tens of thousands per page."""

    created_at: list[datetime] = field(default_factory=list)
    seconds_to_contact: list[float | None] = field(default_factory=list)


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
    contacts: dict[int | None, FirstContacts] = field(default_factory=dict)


def period_leads(
    session: Session, scope: DealerScope, *, since: datetime, until: datetime
) -> PeriodLeads:
    """Per dealer, the period's lead counts and each lead with its first contact attempt."""
    # Correlated, so only the period's leads are looked up (by the index on lead_id, and for a
    # sale by the small partial index of the stage changes that made one).
    ever_sold = exists().where(
        LeadStageChange.lead_id == Lead.id, LeadStageChange.to_stage.in_(SOLD_STAGES)
    )
    unassigned = case((Lead.stage.in_(OPEN_STAGES) & Lead.assigned_user_id.is_(None), 1), else_=0)
    sold = case((Lead.stage.in_(SOLD_STAGES) | ever_sold, 1), else_=0)
    first = (
        select(func.min(ContactAttempt.attempted_at))
        .where(ContactAttempt.lead_id == Lead.id)
        .correlate(Lead)
        .scalar_subquery()
    )
    postgres = dialect_of(session) == "postgresql"
    created: ColumnElement[datetime] = Lead.created_at.expression
    to_contact: ColumnElement[Any] = first  # SQLite: the moment, made seconds below
    if postgres:
        to_contact = cast(extract("epoch", first - Lead.created_at), Float)
        # Sessions are in UTC (cdp/db.py): psycopg's datetimes are already what UtcDateTime
        # would make of them, so they skip its per-value conversion.
        created = type_coerce(Lead.created_at, DateTime(timezone=True))
        # Tens of thousands of index lookups make the planner's cost estimate high enough for
        # PostgreSQL to compile the query (JIT): about 450 ms at 500,000 leads (bench/funnel.py),
        # more than running it takes. For this transaction only.
        session.execute(text("SET LOCAL jit = off"))
    rows = session.execute(
        select(Lead.dealer_id, created, to_contact, unassigned, sold).where(
            *_leads_of_period(scope, since, until)
        )
    )
    tallies: dict[int | None, list[int]] = defaultdict(lambda: [0, 0, 0])
    contacts: dict[int | None, FirstContacts] = defaultdict(FirstContacts)
    for dealer_id, created_at, contact, open_, won in rows:
        if contact is not None and not postgres:
            contact = (contact - created_at).total_seconds()
        tally = tallies[dealer_id]
        tally[0] += 1
        tally[1] += open_
        tally[2] += won
        found = contacts[dealer_id]
        found.created_at.append(created_at)
        found.seconds_to_contact.append(contact)
    return PeriodLeads(
        counts={
            dealer_id: LeadCounts(leads=total, unassigned=open_, sold=won)
            for dealer_id, (total, open_, won) in tallies.items()
        },
        contacts=dict(contacts),
    )


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
