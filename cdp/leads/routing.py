"""Lead routing: which dealer a new lead belongs to and which salesperson there gets it, decided
the moment it is made, at any hour (only the SLA clock waits for opening time: sla.py).

The dealer, the first rule that finds an active one:
1. the dealer the event names (`dealer_code`, or `dealer_id`: the dealer's code or number) in
   Quote Requested or Test Drive Requested (a walk-in: the showroom's own dealer);
2. the dealer of the customer's latest Dealer Selected event;
3. the active dealer whose postal-code area holds the customer's postal code (the longest
   prefix wins: "5611 AB" is in area 5611 before area 56);
4. the only active dealer, when the network has just one (a single showroom);
5. else none: the network's unassigned queue, which importer managers see.
A code that names no dealer, or an inactive one, is kept on the event, recorded as a warning on
the lead's assignment and logged, and the next rule decides.

The salesperson, among the dealer's active salespeople (role sales):
1. the one who already has an open lead of this customer at this dealer;
2. else round robin among those available now (each sets available, busy or off): the one
   routing gave a lead longest ago (never: first), fewer open leads at the dealer breaking a
   tie, then the lower staff id. Over many leads each available salesperson gets an equal share.
Nobody available: the lead waits in the dealer's unassigned pool (and its SLA alerts the
manager). Two workers routing at the same instant may pick the same person: the rotation
evens out over the next leads.

`record_assignment` is the one moment a lead is assigned, whoever assigns it: routing, a
manager, a salesperson taking it. It writes the history (lead_assignment) and logs warnings;
live alerts are sent from there.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from cdp.alerts import service as alerts
from cdp.leads import routing_queries as q
from cdp.leads.routing_queries import DealerEntry, Salesperson
from cdp.text import postal_code

log = logging.getLogger(__name__)

NEVER = datetime(1970, 1, 1, tzinfo=UTC)
_NL_POSTAL = re.compile(r"\d{4}[A-Z]{2}")

# What each rule of an assignment's `rule` means, as the lead's history shows it.
RULE_LABELS = {
    "event_dealer": "the dealer named in the request",
    "dealer_selected": "the dealer the customer chose",
    "postal_area": "the customer's postal code",
    "only_dealer": "the only dealer",
    "walk_in": "the showroom they walked into",
    "unassigned_queue": "no dealer found: the network's queue",
    "existing_salesperson": "their salesperson",
    "round_robin": "round robin",
    "nobody_available": "nobody available",
    "chosen": "chosen by staff",
    "taken": "taken",
    "reassigned": "reassigned",
    "staff_left": "their salesperson can no longer work it",
    "contact": "logged the first contact",
    "walk_in_host": "served them in the showroom",
}


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """A lead to route: its customer, the event that made it (its properties may name a
    dealer), or the dealer it must stay at (a walk-in at that showroom)."""

    profile_id: uuid.UUID
    properties: Mapping[str, Any] | None = None
    dealer_id: int | None = None


@dataclass(frozen=True, slots=True)
class Route:
    dealer_id: int | None
    user_id: int | None
    rule: str
    warning: str | None


@dataclass(frozen=True, slots=True)
class NewAssignment:
    """One assignment, as record_assignment stores it (by_user_id None: routing)."""

    lead_id: int
    dealer_id: int | None
    to_user_id: int | None
    rule: str
    at: datetime
    from_user_id: int | None = None
    by_user_id: int | None = None
    reason: str | None = None
    warning: str | None = None
    profile_id: uuid.UUID | None = field(default=None, compare=False)


def record_assignment(session: Session, assignments: Sequence[NewAssignment]) -> None:
    """The moment leads are assigned, whatever assigned them: one history row each (one
    statement for any number), and a log line for each warning."""
    if not assignments:
        return
    q.insert_assignments(
        session,
        [
            {
                "lead_id": a.lead_id,
                "dealer_id": a.dealer_id,
                "from_user_id": a.from_user_id,
                "to_user_id": a.to_user_id,
                "by_user_id": a.by_user_id,
                "rule": a.rule,
                "reason": a.reason,
                "warning": a.warning,
                "assigned_at": a.at,
            }
            for a in assignments
        ],
    )
    for a in assignments:
        if a.warning:
            log.warning("lead %s routed by %s: %s", a.lead_id, a.rule, a.warning)
    # Live alerts: the salesperson given a lead is told at once (not of one they took).
    alerts.leads_assigned(
        session,
        [(a.lead_id, a.to_user_id, a.by_user_id) for a in assignments],
        now=max(a.at for a in assignments),
    )


# --- the dealer ------------------------------------------------------------------------------
def _named_dealer(properties: Mapping[str, Any] | None) -> str | None:
    """The dealer an event names, as sent (dealer_code first, then dealer_id)."""
    if not properties:
        return None
    for key in ("dealer_code", "dealer_id"):
        value = properties.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int) or (isinstance(value, str) and value.strip()):
            return str(value).strip()[:40]
    return None


class _Directory:
    def __init__(self, entries: Sequence[DealerEntry]) -> None:
        self.by_code = {entry.code: entry for entry in entries}
        self.by_id = {entry.id: entry for entry in entries}
        self.active = [entry for entry in entries if entry.active]

    def find(self, named: str) -> DealerEntry | None:
        code = named.upper()
        if code in self.by_code:
            return self.by_code[code]
        if named.isascii() and named.isdigit() and len(named) < 10:
            return self.by_id.get(int(named))
        return None

    def resolve(self, named: str | None, what: str, warnings: list[str]) -> DealerEntry | None:
        """The active dealer `named` names; None (with a warning) for an unknown or inactive
        one."""
        if named is None:
            return None
        found = self.find(named)
        if found is None:
            warnings.append(f"{what} names dealer {named!r}, which is unknown")
            return None
        if not found.active:
            warnings.append(f"{what} names dealer {found.code}, which is inactive")
            return None
        return found

    def by_postal_code(self, raw: str) -> DealerEntry | None:
        """The active dealer with the longest postal-code area that starts the code. A Dutch
        code (letters after its digits) is only another country's dealer's by mistake: it goes
        to the Dutch dealers (or those of no country) alone; Haarlem's "2018 AB" went to a
        Belgian dealer serving 2018. Four digits alone may be either: the longest area, and a
        tie between countries goes to Belgium, whose codes they are."""
        compact = postal_code(raw).replace(" ", "")
        if not compact:
            return None
        country = "NL" if _NL_POSTAL.fullmatch(compact) else "BE" if compact.isdigit() else ""
        best: tuple[int, bool, str] | None = None
        chosen: DealerEntry | None = None
        for entry in self.active:
            if country == "NL" and entry.country and entry.country != "NL":
                continue
            for area in entry.postal_areas:
                if compact.startswith(area):
                    key = (len(area), entry.country == country, _reverse(entry.code))
                    if best is None or key > best:
                        best, chosen = key, entry
        return chosen


def _reverse(code: str) -> str:
    """Sorts the lower code first in a max(): equal areas go to the first dealer by code."""
    return "".join(chr(0x10FFFF - ord(c)) for c in code)


def _choose_dealers(
    session: Session, requests: Sequence[RouteRequest], directory: _Directory
) -> list[tuple[int | None, str, list[str]]]:
    chosen: list[tuple[int | None, str, list[str]]] = []
    undecided: list[int] = []
    for index, request in enumerate(requests):
        warnings: list[str] = []
        if request.dealer_id is not None and request.dealer_id in directory.by_id:
            chosen.append((request.dealer_id, "walk_in", warnings))
            continue
        found = directory.resolve(_named_dealer(request.properties), "the event", warnings)
        chosen.append((found.id if found else None, "event_dealer", warnings))
        if found is None:
            undecided.append(index)
    if undecided:
        selected = q.latest_dealer_selected(session, {requests[i].profile_id for i in undecided})
        still: list[int] = []
        for index in undecided:
            warnings = chosen[index][2]
            named = _named_dealer(selected.get(requests[index].profile_id))
            found = directory.resolve(named, "the customer's latest Dealer Selected", warnings)
            if found is not None:
                chosen[index] = (found.id, "dealer_selected", warnings)
            else:
                still.append(index)
        undecided = still
    if undecided:
        # No dealer serves an area: the postal code cannot decide, so it is not read.
        served = any(entry.postal_areas for entry in directory.active)
        wanted = {requests[i].profile_id for i in undecided}
        codes = q.postal_codes(session, wanted) if served else {}
        for index in undecided:
            warnings = chosen[index][2]
            raw = codes.get(requests[index].profile_id)
            found = directory.by_postal_code(raw) if raw else None
            if found is not None:
                chosen[index] = (found.id, "postal_area", warnings)
            elif len(directory.active) == 1:
                chosen[index] = (directory.active[0].id, "only_dealer", warnings)
            else:
                chosen[index] = (None, "unassigned_queue", warnings)
    return chosen


# --- the salesperson -------------------------------------------------------------------------
class _Rotation:
    """The round robin's state for one routing call: who is available where, when routing
    last gave each a lead, and their open leads; updated as this call hands leads out."""

    def __init__(self, session: Session, dealer_ids: set[int]) -> None:
        people = q.salespeople_at(session, dealer_ids)
        self.by_dealer: dict[int, list[Salesperson]] = {}
        for person in people:
            self.by_dealer.setdefault(person.dealer_id, []).append(person)
        self.members = {(person.dealer_id, person.user_id) for person in people}
        self.last = {p.user_id: (p.last_routed_at, 0) for p in people if p.last_routed_at}
        self.open = {(p.dealer_id, p.user_id): p.open_leads for p in people}
        self.handed = 0

    def next_for(self, dealer_id: int) -> int | None:
        available = [p for p in self.by_dealer.get(dealer_id, []) if p.availability == "available"]
        if not available:
            return None
        person = min(
            available,
            key=lambda p: (
                self.last.get(p.user_id, (NEVER, 0)),
                self.open.get((dealer_id, p.user_id), 0),
                p.user_id,
            ),
        )
        self.took(dealer_id, person.user_id, routed=True)
        return person.user_id

    def took(self, dealer_id: int, user_id: int, *, routed: bool) -> None:
        self.open[(dealer_id, user_id)] = self.open.get((dealer_id, user_id), 0) + 1
        if routed:
            # Later than any stored time: this call's `now` may equal the last one's.
            self.handed += 1
            self.last[user_id] = (datetime.max.replace(tzinfo=UTC), self.handed)


def route_leads(
    session: Session,
    requests: Sequence[RouteRequest],
    *,
    owners: Mapping[tuple[uuid.UUID, int], int] | None = None,
) -> list[Route]:
    """Where each new lead goes (in the order given), in a fixed number of statements for
    any number of leads. `owners`: the salesperson of each customer's open lead per dealer,
    when the caller knows it (ingest: the customers it routes have no open lead)."""
    if not requests:
        return []
    directory = _Directory(q.dealer_directory(session))
    dealers = _choose_dealers(session, requests, directory)
    dealer_ids = {dealer_id for dealer_id, _, _ in dealers if dealer_id is not None}
    if owners is None:
        owners = q.open_lead_owners(session, {r.profile_id for r in requests})
    rotation = _Rotation(session, dealer_ids) if dealer_ids else None
    routes = []
    for request, (dealer_id, dealer_rule, warnings) in zip(requests, dealers, strict=True):
        user_id: int | None = None
        person_rule = "nobody_available"
        if dealer_id is not None and rotation is not None:
            own = owners.get((request.profile_id, dealer_id))
            if own is not None and (dealer_id, own) in rotation.members:
                user_id, person_rule = own, "existing_salesperson"
                rotation.took(dealer_id, own, routed=False)
            else:
                user_id = rotation.next_for(dealer_id)
                if user_id is not None:
                    person_rule = "round_robin"
                else:
                    code = directory.by_id[dealer_id].code
                    warnings.append(f"no salesperson of {code} is available")
        routes.append(
            Route(
                dealer_id=dealer_id,
                user_id=user_id,
                rule=f"{dealer_rule}/{person_rule}" if dealer_id is not None else dealer_rule,
                warning="; ".join(warnings) or None,
            )
        )
    return routes


def route_one(session: Session, request: RouteRequest) -> Route:
    return route_leads(session, [request])[0]


def rule_label(rule: str) -> str:
    """'postal_area/round_robin' -> "the customer's postal code, round robin"."""
    return ", ".join(RULE_LABELS.get(part, part.replace("_", " ")) for part in rule.split("/"))
