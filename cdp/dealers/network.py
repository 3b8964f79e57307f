"""The network view: every dealer the caller sees side by side, for a period (docs/dealers.md).

Per dealer: leads that came in, those still waiting for a salesperson, the median time to the
first contact attempt, the share contacted within the speed-to-lead SLA, the show rate of
appointments and lead-to-sale. The queries are in `network_repository` (one per family, grouped by
dealer); this module turns their rows into figures and sorts them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cdp.dealers import network_repository as repo
from cdp.dealers.visibility import DealerScope
from cdp.leads.sla import DueClock, sla_due_at
from cdp.local_time import local_start, local_today
from cdp.models import Dealer

# Speed to lead, as the column's header says it: first contact within 30 minutes unless a dealer
# sets its own, counted in its opening hours (`contacted_within_sla`).
SLA = timedelta(minutes=30)

PERIODS = {"month": "This month", "30d": "Last 30 days", "quarter": "This quarter"}
DEFAULT_PERIOD = "month"


def contacted_within_sla(
    dealer: Dealer | None, created_at: datetime, first_contact_at: datetime | None, now: datetime
) -> bool | None:
    """Whether a lead was contacted within the SLA: True or False once that is known, None
    while its SLA time is still running. The one rule of the network view's SLA column: the
    dealer's own first-contact minutes, counted in its opening hours (cdp/leads/sla.py)."""
    deadline = sla_due_at(dealer, created_at)
    if first_contact_at is not None and first_contact_at <= deadline:
        return True
    if first_contact_at is not None or now > deadline:
        return False
    return None


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """[since, until) of a named period, in the showroom's calendar (unknown names: this month)."""
    today = local_today(now)
    if period == "30d":
        return now - timedelta(days=30), now
    if period == "quarter":
        first_month = 3 * ((today.month - 1) // 3) + 1
        return local_start(today.replace(month=first_month, day=1), time(0)), now
    return local_start(today.replace(day=1), time(0)), now


@dataclass(frozen=True, slots=True)
class DealerFigures:
    dealer: Dealer | None  # None: the network's unassigned queue (leads no dealer holds)
    leads: int
    unassigned: int
    contacted: int
    median_first_contact: timedelta | None
    within_sla: int
    sla_decided: int  # leads whose SLA is known: contacted, or past their deadline
    showed: int
    no_show: int
    sold: int

    @property
    def code(self) -> str:
        return self.dealer.code if self.dealer else ""

    @property
    def sla_share(self) -> float | None:
        return self.within_sla / self.sla_decided if self.sla_decided else None

    @property
    def show_rate(self) -> float | None:
        seen = self.showed + self.no_show
        return self.showed / seen if seen else None

    @property
    def lead_to_sale(self) -> float | None:
        return self.sold / self.leads if self.leads else None


@dataclass(frozen=True, slots=True)
class NetworkView:
    since: datetime
    until: datetime
    rows: list[DealerFigures]
    total: DealerFigures


def _median(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


@dataclass(slots=True)
class _Contacts:
    """Speed to lead over a set of leads: the SLA verdicts."""

    within: int = 0
    decided: int = 0


def _contacts(
    counts: repo.LeadCounts | None,
    late: repo.FirstContacts | None,
    clock: DueClock,
    now: datetime,
) -> _Contacts:
    """The same verdicts as `contacted_within_sla`: the contacted leads are counted (within
    their due seconds, or the SLA's minutes for those without); of the others (`late`), a
    lead not contacted is decided once its due time has passed, and one without its due
    seconds contacted later than the SLA's minutes is judged by the dealer's `clock`."""
    if counts is None:
        return _Contacts()
    found = _Contacts(within=counts.contacted_soon, decided=counts.contacted)
    if late is None:
        return found
    for created_at, to_contact, due_s in zip(
        late.created_at, late.seconds_to_contact, late.due_seconds, strict=True
    ):
        if due_s is None:
            due_at = clock.due_at(created_at)
        else:
            due_at = created_at + timedelta(seconds=due_s)
        if to_contact is not None:
            found.within += created_at + timedelta(seconds=to_contact) <= due_at
        elif now > due_at:
            found.decided += 1
    return found


def _figures(
    dealer: Dealer | None,
    counts: repo.LeadCounts | None,
    median: float | None,
    contacts: _Contacts,
    outcomes: repo.AppointmentOutcomes | None,
) -> DealerFigures:
    return DealerFigures(
        dealer=dealer,
        leads=counts.leads if counts else 0,
        unassigned=counts.unassigned if counts else 0,
        contacted=counts.contacted if counts else 0,
        median_first_contact=_median(median),
        within_sla=contacts.within,
        sla_decided=contacts.decided,
        showed=outcomes.showed if outcomes else 0,
        no_show=outcomes.no_show if outcomes else 0,
        sold=counts.sold if counts else 0,
    )


def network_view(
    session: Session, scope: DealerScope, *, period: str, now: datetime, sort: str = "dealer"
) -> NetworkView:
    since, until = period_bounds(period, now)
    dealers = repo.dealers_in(session, scope)
    found = repo.period_leads(session, scope, since=since, until=until)
    counts, late = found.counts, found.needing_clock
    outcomes = repo.appointment_outcomes(session, scope, since=since, until=until)
    # One clock per SLA rule (opening hours, time zone, minutes): most dealers share a few.
    clocks: dict[tuple[str | None, str | None, int], DueClock] = {}
    speed: dict[int | None, _Contacts] = {}
    rows = []
    for d in dealers:
        rule = (d.opening_hours, d.time_zone, d.sla_first_contact_minutes)
        clock = clocks.get(rule) or clocks.setdefault(rule, DueClock(d, since, until))
        speed[d.id] = _contacts(counts.get(d.id), late.get(d.id), clock, now)
        rows.append(
            _figures(d, counts.get(d.id), found.medians.get(d.id), speed[d.id], outcomes.get(d.id))
        )
    if scope.network and (None in counts or None in outcomes):
        clock = DueClock(None, since, until)
        speed[None] = _contacts(counts.get(None), late.get(None), clock, now)
        rows.append(
            _figures(
                None, counts.get(None), found.medians.get(None), speed[None], outcomes.get(None)
            )
        )
    # The network's row: each lead judged by its own dealer's SLA, as in its dealer's row.
    total = _figures(
        None,
        repo.LeadCounts(
            leads=sum(c.leads for c in counts.values()),
            unassigned=sum(c.unassigned for c in counts.values()),
            sold=sum(c.sold for c in counts.values()),
            contacted=sum(c.contacted for c in counts.values()),
        ),
        found.total_median,
        _Contacts(
            within=sum(verdicts.within for verdicts in speed.values()),
            decided=sum(verdicts.decided for verdicts in speed.values()),
        ),
        repo.AppointmentOutcomes(
            showed=sum(o.showed for o in outcomes.values()),
            no_show=sum(o.no_show for o in outcomes.values()),
        ),
    )
    return NetworkView(since=since, until=until, rows=sorted_rows(rows, sort), total=total)


# What each sortable column sorts by; a leading "-" in ?sort= turns the order round.
SORT_KEYS: dict[str, Callable[[DealerFigures], Any]] = {
    "dealer": lambda r: r.dealer.code if r.dealer else "\uffff",
    "leads": lambda r: r.leads,
    "unassigned": lambda r: r.unassigned,
    "first_contact": lambda r: r.median_first_contact,
    "sla": lambda r: r.sla_share,
    "show_rate": lambda r: r.show_rate,
    "lead_to_sale": lambda r: r.lead_to_sale,
}


def sort_key(sort: str) -> tuple[str, bool]:
    """('leads', True) for '-leads': the column and whether it is descending; unknown: dealer."""
    descending = sort.startswith("-")
    column = sort.removeprefix("-")
    return (column, descending) if column in SORT_KEYS else ("dealer", False)


def sorted_rows(rows: list[DealerFigures], sort: str) -> list[DealerFigures]:
    """Sorted by a column; rows without a figure (no leads yet) last either way, then by code."""
    column, descending = sort_key(sort)
    key = SORT_KEYS[column]
    known = [row for row in rows if key(row) is not None]
    unknown = [row for row in rows if key(row) is None]
    by_code = sorted(known, key=SORT_KEYS["dealer"])  # ties keep the dealers' order
    known = sorted(by_code, key=key, reverse=descending)
    return known + sorted(unknown, key=SORT_KEYS["dealer"])
