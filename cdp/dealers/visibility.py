"""Who sees which dealer's records: the one place that decides it.

Leads, notes, appointments, contact attempts, deliveries and tablet sessions belong to a dealer
(their `dealer_id`). Staff of a dealer see only their dealers' records; importer-level staff
(marketing, a manager or admin with no dealer) and network-wide API tokens see every dealer's,
and the unassigned queue (records with no dealer). A record outside the caller's scope is
answered as if it did not exist (404), never as forbidden, so its existence is not revealed.

Inside the scope, who may *change* a lead is decided here too (`may_change_lead`,
`may_take_lead`), and whom a dealer may look up: the person is the brand's, so with
CDP_SHARE_CUSTOMERS_ACROSS_DEALERS on (the default) lookup finds every customer; off, a
dealer-scoped caller finds only people with activity at their dealers (`activity_at`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, SQLColumnExpression, exists, false, or_, select, true
from sqlalchemy.orm import Session

from cdp.dealers import repository
from cdp.dealers.service import FLOOR_ROLES
from cdp.models import (
    Appointment,
    ContactAttempt,
    Delivery,
    Lead,
    Note,
    TabletSession,
)
from cdp.sql import among

# Where a person has "activity" at a dealer: each holds dealer_id and an indexed profile_id.
ACTIVITY_TABLES = (Lead, Note, Appointment, TabletSession, ContactAttempt, Delivery)


@dataclass(frozen=True, slots=True)
class DealerScope:
    """The dealers whose records a caller may see; None means the whole network."""

    dealer_ids: frozenset[int] | None

    @property
    def network(self) -> bool:
        return self.dealer_ids is None

    def sees(self, dealer_id: int | None) -> bool:
        if self.dealer_ids is None:
            return True
        return dealer_id is not None and dealer_id in self.dealer_ids

    def where(self, column: SQLColumnExpression[int | None]) -> ColumnElement[bool]:
        """A WHERE clause keeping rows of `column` (a dealer_id column) inside the scope."""
        if self.dealer_ids is None:
            return true()
        if not self.dealer_ids:
            return false()
        return column.in_(sorted(self.dealer_ids))


NETWORK = DealerScope(None)
NOWHERE = DealerScope(frozenset())


def scope_of_staff(session: Session, *, user_id: int, role: str) -> DealerScope:
    """Staff at dealers see those dealers; floor staff without a dealer see none (never the
    network by accident); a manager, admin or marketer without a dealer sees the network."""
    dealer_ids = repository.dealer_ids_of(session, user_id)
    if dealer_ids:
        return DealerScope(frozenset(dealer_ids))
    return NOWHERE if role in FLOOR_ROLES else NETWORK


def scope_of_token(dealer_id: int | None) -> DealerScope:
    """An API token reads one dealer's records, or without a dealer the network's."""
    return NETWORK if dealer_id is None else DealerScope(frozenset({dealer_id}))


# --- changing a lead ---------------------------------------------------------------------------
def may_change_lead(scope: DealerScope, *, user_id: int, leads_all: bool, lead: Lead) -> bool:
    """A manager (LEADS_ALL) changes any lead in their scope (a dealer's manager their dealers',
    an importer manager every one); a salesperson only the leads assigned to them."""
    if not scope.sees(lead.dealer_id):
        return False
    return leads_all or lead.assigned_user_id == user_id


def may_take_lead(scope: DealerScope, *, leads_all: bool, lead: Lead) -> bool:
    """A salesperson may take an unassigned lead of their own dealer ("Take this lead"; logging
    a contact on it takes it too). The network's queue (no dealer) is the importer's."""
    return (
        scope.sees(lead.dealer_id)
        and lead.dealer_id is not None
        and (leads_all or lead.assigned_user_id is None)
    )


# --- finding people --------------------------------------------------------------------------
def people_filter(scope: DealerScope, *, shared: bool) -> frozenset[int] | None:
    """The dealers a caller's lookup is narrowed to (people with activity there), or None when
    they find every customer: sharing on, or a network-wide caller."""
    if shared or scope.dealer_ids is None:
        return None
    return scope.dealer_ids


def activity_at(
    profile_id: SQLColumnExpression[uuid.UUID], dealer_ids: Collection[int]
) -> ColumnElement[bool]:
    """Whether the person (`profile_id`, a correlated column) has a lead, note, appointment,
    tablet session, contact attempt or delivery at one of these dealers: an EXISTS per table,
    each served by its profile_id index.

    `dealer_id + 0` keeps the dealer_id index out: SQLite, which has no statistics here
    (cdp.table_stats), took it and read all of a dealer's activity for every customer tried,
    2 s per name search at 3,000 customers, while the profile_id index finds a person's few
    rows at once (on PostgreSQL as well)."""
    wanted = sorted(dealer_ids)
    if not wanted:
        return false()
    return or_(
        *(
            exists().where(
                table.profile_id == profile_id,
                (table.dealer_id + 0).in_(wanted),
            )
            for table in ACTIVITY_TABLES
        )
    )


def activity_sql(profile_column: str, parameter: str) -> str:
    """`activity_at` as PostgreSQL text, for lookup's hand-written name query; `parameter`
    binds the dealer ids as an integer array."""
    return (
        "("
        + " OR ".join(
            f"EXISTS (SELECT 1 FROM {table.__tablename__} AS act WHERE act.profile_id = "
            f"{profile_column} AND act.dealer_id = ANY(CAST(:{parameter} AS integer[])))"
            for table in ACTIVITY_TABLES
        )
        + ")"
    )


def active_at(
    session: Session, profile_ids: Collection[uuid.UUID], dealer_ids: Collection[int]
) -> set[uuid.UUID]:
    """Which of these people have activity at one of these dealers."""
    if not profile_ids:
        return set()
    ids = list(profile_ids)
    found: set[uuid.UUID] = set()
    for table in ACTIVITY_TABLES:
        column = table.profile_id
        found |= {
            pid
            for pid in session.scalars(
                select(column)
                .where(among(session, column, ids), table.dealer_id.in_(sorted(dealer_ids)))
                .distinct()
            )
            if pid is not None
        }
    return found


def finds_person(
    session: Session, scope: DealerScope, profile_ids: Collection[uuid.UUID], *, shared: bool
) -> bool:
    """Whether this caller may find the person (a profile and those merged into it)."""
    narrowed = people_filter(scope, shared=shared)
    return narrowed is None or bool(active_at(session, profile_ids, narrowed))
