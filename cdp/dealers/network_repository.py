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

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, DateTime, case, func, select, type_coerce
from sqlalchemy.orm import Session

from cdp.dealers.visibility import DealerScope
from cdp.leads.progress import STEPS
from cdp.models import OPEN_STAGES, Appointment, Dealer, Lead
from cdp.sql import dialect_of

NOT_LEADS = ("invalid", "duplicate")
SOLD_STEP = len(STEPS)  # a lead's furthest step when it was ever sold (cdp/leads/progress.py)
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
    """Per dealer, the period's lead counts and each lead with its first contact attempt: one
    range read of the period's leads, each carrying its progress (cdp/leads/progress.py)."""
    unassigned = case((Lead.stage.in_(OPEN_STAGES) & Lead.assigned_user_id.is_(None), 1), else_=0)
    # The furthest step is the sale when the lead is sold or delivered now or was ever (a
    # stage change to either): the network's "reached a sale", as the funnel counts it.
    sold = case((Lead.furthest_step >= SOLD_STEP, 1), else_=0)
    created: ColumnElement[datetime] = Lead.created_at.expression
    if dialect_of(session) == "postgresql":
        # Sessions are in UTC (cdp/db.py): psycopg's datetimes are already what UtcDateTime
        # would make of them, so they skip its per-value conversion.
        created = type_coerce(Lead.created_at, DateTime(timezone=True))
    rows = session.execute(
        select(Lead.dealer_id, created, Lead.first_contact_s, unassigned, sold).where(
            *_leads_of_period(scope, since, until)
        )
    )
    tallies: dict[int | None, list[int]] = defaultdict(lambda: [0, 0, 0])
    contacts: dict[int | None, FirstContacts] = defaultdict(FirstContacts)
    for dealer_id, created_at, contact, open_, won in rows:
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
