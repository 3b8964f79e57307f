"""Open leads of someone who can no longer work them: they leave a dealer, take a role that works
no leads, or their account is deactivated (the staff admin pages, showroom/admin_routes.py).

The page asks first: `stranded` says how many open leads at which dealers the change would
leave with them, and whom of each dealer they could go to instead. On confirming, `hand_over`
moves them: back to their dealer's unassigned queue (its manager sees them there to assign; a
lead nobody has contacted yet stays on the speed-to-lead check, its warning due again so that a
manager not yet told of it is, cdp/leads/sla_alerts.py), or to a colleague of that dealer. Each
move is in the lead's assignment history, with why (docs/dealers.md, "Staff and tokens").
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cdp.auth.permissions import Permission, allows
from cdp.dealers.service import FLOOR_ROLES
from cdp.dealers.visibility import NETWORK, NOWHERE, DealerScope
from cdp.errors import InvalidInput
from cdp.leads import repository as repo
from cdp.leads.checks import roles_with
from cdp.leads.routing import NewAssignment, record_assignment
from cdp.models import OPEN_STAGES, ContactAttempt, Dealer, Lead, utcnow

RULE = "staff_left"  # the assignment's rule (routing.RULE_LABELS)


@dataclass(frozen=True, slots=True)
class Stranded:
    """Open leads at one dealer (None: the network's queue) that would stay with someone who
    can no longer work them, and the colleagues there who could take them instead."""

    dealer_id: int | None
    dealer_code: str | None
    dealer_name: str | None
    count: int
    colleagues: list[tuple[int, str]]  # (id, "Name (role, e-mail)")

    @property
    def where(self) -> str:
        return self.dealer_code or "the network's queue"

    @property
    def field(self) -> str:
        """The form field choosing where they go: to_<dealer id>, to_network."""
        return f"to_{self.dealer_id if self.dealer_id is not None else 'network'}"


@dataclass(frozen=True, slots=True)
class HandedOver:
    """What happened to one dealer's leads: back to its queue (to_name None) or to a colleague."""

    dealer_code: str | None
    count: int
    to_name: str | None

    def __str__(self) -> str:
        leads = f"{self.count} open lead{'' if self.count == 1 else 's'}"
        if self.to_name is not None:
            return f"{leads} at {self.dealer_code or 'the network'} went to {self.to_name}"
        if self.dealer_code is None:
            return f"{leads} went back to the network's unassigned queue"
        return f"{leads} went back to {self.dealer_code}'s unassigned queue"


@dataclass(frozen=True, slots=True)
class Handover:
    groups: list[HandedOver]
    leads: list[tuple[int, uuid.UUID]]  # (lead id, profile id) of each lead moved

    @property
    def summary(self) -> str:
        """ "12 open leads went back to NW-EHV's unassigned queue; 2 open leads at NW-AMS went
        to Sem Janssen" (empty: none moved)."""
        return "; ".join(str(group) for group in self.groups)

    @property
    def said(self) -> str:
        """The summary as a sentence, for the notice after the change."""
        return f"{self.summary[:1].upper()}{self.summary[1:]}." if self.groups else ""


def works_leads_at(*, role: str, active: bool, dealer_ids: Collection[int]) -> DealerScope:
    """The leads someone may still work after a change (cdp/dealers/visibility.py's rule): none
    when deactivated or in a role without leads, their dealers', or the network's for a manager
    or admin at no dealer."""
    if not active or not allows(role, Permission.LEADS):
        return NOWHERE
    if dealer_ids:
        return DealerScope(frozenset(dealer_ids))
    return NOWHERE if role in FLOOR_ROLES else NETWORK


def _open_counts(session: Session, user_id: int) -> list[tuple[int | None, int]]:
    rows = session.execute(
        select(Lead.dealer_id, func.count())
        .where(Lead.assigned_user_id == user_id, Lead.stage.in_(OPEN_STAGES))
        .group_by(Lead.dealer_id)
    ).all()
    return [(dealer_id, count) for dealer_id, count in rows]


def _colleagues(
    session: Session, user_id: int, dealer_ids: Collection[int | None]
) -> dict[int | None, list[tuple[int, str]]]:
    """Active staff who work leads at each dealer (None: the importer's), leaver left out."""
    found: dict[int | None, list[tuple[int, str]]] = {dealer_id: [] for dealer_id in dealer_ids}
    for user, works_at in repo.active_staff_with_dealers(session, roles_with(Permission.LEADS)):
        if user.id == user_id:
            continue
        places: list[int | None] = list(works_at)
        if not places and user.role not in FLOOR_ROLES:
            places = [None]  # the importer's staff work the network's queue
        for dealer_id in places:
            if dealer_id in found:
                found[dealer_id].append((user.id, f"{user.name} ({user.role}, {user.email})"))
    for people in found.values():
        people.sort(key=lambda person: (person[1].lower(), person[0]))
    return found


def stranded(session: Session, user_id: int, still: DealerScope) -> list[Stranded]:
    """The open leads assigned to `user_id` outside `still` (what they may work after the
    change), per dealer, by dealer code (the network's queue last)."""
    if still.network:
        return []
    counts = [(d, n) for d, n in _open_counts(session, user_id) if not still.sees(d)]
    if not counts:
        return []
    dealers = {
        dealer.id: dealer
        for dealer in session.scalars(
            select(Dealer).where(Dealer.id.in_([d for d, _ in counts if d is not None]))
        )
    }
    colleagues = _colleagues(session, user_id, [d for d, _ in counts])
    found = [
        Stranded(
            dealer_id=dealer_id,
            dealer_code=dealers[dealer_id].code if dealer_id is not None else None,
            dealer_name=dealers[dealer_id].name if dealer_id is not None else None,
            count=count,
            colleagues=colleagues[dealer_id],
        )
        for dealer_id, count in counts
    ]
    return sorted(found, key=lambda s: (s.dealer_code is None, s.dealer_code or ""))


def describe(name: str, left: Sequence[Stranded], why: str) -> str:
    """'Sem Janssen has 11 open leads at NW-EHV (Nordwind Eindhoven) that they can no longer
    work there.' (several dealers: '... there: 11 at NW-EHV (...), 2 at NW-AMS (...).')"""
    places = [
        f"at {group.dealer_code} ({group.dealer_name})"
        if group.dealer_code
        else "in the network's queue"
        for group in left
    ]
    total = sum(group.count for group in left)
    leads = f"{total} open lead{'' if total == 1 else 's'}"
    if len(left) == 1:
        return f"{name} has {leads} {places[0]} that they can no longer work {why}."
    each = ", ".join(f"{group.count} {place}" for group, place in zip(left, places, strict=True))
    return f"{name} has {leads} that they can no longer work {why}: {each}."


def chosen_colleagues(
    groups: Sequence[Stranded], form: Mapping[str, str]
) -> dict[int | None, int | None]:
    """Whom each dealer's leads go to, from the confirmation's fields (empty: the queue), or
    InvalidInput naming the field of a choice that is not a colleague there (any more)."""
    chosen: dict[int | None, int | None] = {}
    for group in groups:
        raw = form.get(group.field, "").strip()
        if not raw:
            chosen[group.dealer_id] = None
            continue
        allowed = {str(person_id): person_id for person_id, _ in group.colleagues}
        if raw not in allowed:
            raise InvalidInput(
                f"Choose someone who works leads at {group.where}, or its unassigned queue.",
                field=group.field,
            )
        chosen[group.dealer_id] = allowed[raw]
    return chosen


def hand_over(
    session: Session,
    *,
    user_id: int,
    still: DealerScope,
    by_user_id: int | None,
    reason: str,
    to: Mapping[int | None, int | None] | None = None,
    now: datetime | None = None,
) -> Handover:
    """Move the open leads of `user_id` outside `still`: to the colleague `to` names for their
    dealer, else back to the dealer's unassigned queue; each recorded in the lead's history
    (rule staff_left, with `reason`). Read and locked now, so a lead routed to them since the
    question was asked moves too."""
    now = now or utcnow()
    to = to or {}
    if still.network:
        return Handover(groups=[], leads=[])
    leads = [
        lead
        for lead in session.scalars(
            select(Lead)
            .where(Lead.assigned_user_id == user_id, Lead.stage.in_(OPEN_STAGES))
            .order_by(Lead.id)
            .with_for_update()
        )
        if not still.sees(lead.dealer_id)
    ]
    if not leads:
        return Handover(groups=[], leads=[])
    contacted = set(
        session.scalars(
            select(ContactAttempt.lead_id)
            .where(ContactAttempt.lead_id.in_([lead.id for lead in leads]))
            .distinct()
        )
    )
    moves: list[NewAssignment] = []
    tally: dict[int | None, int] = {}
    for lead in leads:
        colleague = to.get(lead.dealer_id)
        lead.assigned_user_id = colleague
        lead.updated_at = now
        if colleague is None and lead.id not in contacted:
            # Nobody has called them yet: the speed-to-lead check tells the manager again.
            lead.sla_warned_at = None
        tally[lead.dealer_id] = tally.get(lead.dealer_id, 0) + 1
        moves.append(
            NewAssignment(
                lead_id=lead.id,
                dealer_id=lead.dealer_id,
                from_user_id=user_id,
                to_user_id=colleague,
                by_user_id=by_user_id,
                rule=RULE,
                reason=reason[:500],
                at=now,
                profile_id=lead.profile_id,
            )
        )
    session.flush()
    record_assignment(session, moves)
    codes = {
        dealer_id: code
        for dealer_id, code in session.execute(
            select(Dealer.id, Dealer.code).where(Dealer.id.in_([d for d in tally if d is not None]))
        )
    }
    names = repo.staff_names(session, {c for c in to.values() if c is not None})
    groups = []
    for dealer_id, count in sorted(
        tally.items(), key=lambda item: (item[0] is None, codes.get(item[0] or 0, ""))
    ):
        colleague = to.get(dealer_id)
        groups.append(
            HandedOver(
                dealer_code=codes.get(dealer_id) if dealer_id is not None else None,
                count=count,
                to_name=names.get(colleague) if colleague is not None else None,
            )
        )
    return Handover(groups=groups, leads=[(lead.id, lead.profile_id) for lead in leads])
