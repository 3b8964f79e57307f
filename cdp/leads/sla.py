"""Speed to lead: the first contact a new lead is due, counted in the dealer's opening hours.

Each dealer sets two figures (docs/dealers.md): first contact within N minutes (30 unless set),
the manager warned after M minutes (15). Only time the dealer is open counts, in the dealer's
time zone (else the installation's), skipping the public holidays of the dealer's country unless
its opening hours name them: a lead that comes in on Saturday evening at a dealer that opens
Monday 9:00 is at risk at 9:15 and breached at 9:30. A lead with no dealer (the network's
unassigned queue) keeps the default figures, around the clock.

A lead is "at risk" once its warning time passes without a contact attempt: `due_warnings` finds
those, marks each warned once (lead.sla_warned_at) and hands them to whoever alerts the dealer's
manager (a periodic job, or the live alerts). A lead whose due time passed without contact is a
breach (lead.sla_breached_at, the due time, set when found: by `due_warnings`, or when the late
first contact is logged). Every function takes the clock (`now`), so tests need no sleeping.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from cdp.alerts.repository import settle_sla_warnings
from cdp.dealers.opening_hours import ALWAYS_OPEN, WeeklySchedule, parse_opening_hours
from cdp.dealers.public_holidays import is_public_holiday
from cdp.dealers.service import DEFAULT_SLA_MINUTES, DEFAULT_SLA_WARNING_MINUTES
from cdp.dealers.visibility import NETWORK, DealerScope
from cdp.errors import InvalidInput
from cdp.leads import routing_queries as q
from cdp.leads.routing_queries import DealerEntry
from cdp.local_time import SHOWROOM_TZ
from cdp.models import Dealer, Lead

log = logging.getLogger(__name__)

# A schedule is searched this far ahead for the opening minutes a due time needs.
SEARCH_DAYS = 400

DealerLike = Dealer | DealerEntry | None


def zone_of(dealer: DealerLike) -> ZoneInfo:
    if dealer is not None and dealer.time_zone:
        try:
            return ZoneInfo(dealer.time_zone)
        except (ValueError, KeyError):  # checked when stored; never fail a page over it
            pass
    return SHOWROOM_TZ


def schedule_of(dealer: DealerLike) -> WeeklySchedule:
    if dealer is None:
        return ALWAYS_OPEN
    try:
        return parse_opening_hours(dealer.opening_hours)
    except InvalidInput:  # text stored before it was checked: count every minute
        log.warning(
            "dealer %s: opening hours cannot be read; the SLA counts all hours", dealer.code
        )
        return ALWAYS_OPEN


def _figures(dealer: DealerLike) -> tuple[int, int]:
    if dealer is None:
        return DEFAULT_SLA_MINUTES, DEFAULT_SLA_WARNING_MINUTES
    if isinstance(dealer, DealerEntry):
        return dealer.sla_minutes, dealer.sla_warning_minutes
    return dealer.sla_first_contact_minutes, dealer.sla_warning_minutes


def _moment(day: date, minute: int, zone: ZoneInfo) -> datetime:
    if minute >= 24 * 60:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone).astimezone(UTC)


def _open_spans(
    dealer: DealerLike, start: datetime, days: int
) -> Iterator[tuple[datetime, datetime]]:
    """The dealer's open periods as UTC (start, end), from the day before `start` onwards; a
    public holiday of the dealer's country has the holiday hours (closed unless named)."""
    zone, schedule = zone_of(dealer), schedule_of(dealer)
    country = dealer.country if dealer is not None else None
    first = start.astimezone(zone).date() - timedelta(days=1)
    for offset in range(days + 2):
        day = first + timedelta(days=offset)
        holiday = is_public_holiday(country, day)
        for opens, closes in schedule.hours_on(day.weekday(), holiday=holiday):
            yield _moment(day, opens, zone), _moment(day, closes, zone)


def business_minutes_between(dealer: DealerLike, start: datetime, end: datetime) -> float:
    """Minutes the dealer was open between two moments (0 if end is not after start)."""
    if end <= start:
        return 0.0
    if schedule_of(dealer).always_open:
        return (end - start).total_seconds() / 60
    days = (end - start).days + 1
    total = 0.0
    for opens, closes in _open_spans(dealer, start, days):
        overlap = (min(closes, end) - max(opens, start)).total_seconds()
        if overlap > 0:
            total += overlap
    return total / 60


def add_business_minutes(dealer: DealerLike, start: datetime, minutes: int) -> datetime:
    """The moment `minutes` of the dealer's opening hours after `start`."""
    if schedule_of(dealer).always_open:
        return start + timedelta(minutes=minutes)
    remaining = timedelta(minutes=minutes)
    for opens, closes in _open_spans(dealer, start, SEARCH_DAYS):
        if closes <= start:
            continue
        begin = max(opens, start)
        if closes - begin >= remaining:
            return begin + remaining
        remaining -= closes - begin
    return start + timedelta(days=SEARCH_DAYS)  # unreachable: a schedule opens every week


def sla_due_at(dealer: DealerLike, created_at: datetime) -> datetime:
    """When a lead that came in at `created_at` must have had its first contact."""
    return add_business_minutes(dealer, created_at, _figures(dealer)[0])


class DueClock:
    """`sla_due_at` for many leads of one dealer that came in between `since` and `until`.

    The dealer's open periods are worked out once for the window (and two weeks beyond), so a
    lead costs a bisection and a step or two instead of a walk through the calendar: the network
    view asks this for every lead of a quarter, tens of thousands at 200 dealers. Same answers
    as `sla_due_at`, which it falls back to past the window."""

    def __init__(self, dealer: DealerLike, since: datetime, until: datetime) -> None:
        self.dealer, self.since = dealer, since
        self.minutes = timedelta(minutes=_figures(dealer)[0])
        self.always_open = schedule_of(dealer).always_open
        days = max(0, (until - since).days) + 14
        self.spans = [] if self.always_open else list(_open_spans(dealer, since, days))
        self.ends = [closes for _, closes in self.spans]

    def due_at(self, created_at: datetime) -> datetime:
        if self.always_open:
            return created_at + self.minutes
        if created_at < self.since:  # before the window: the slow way
            return sla_due_at(self.dealer, created_at)
        remaining = self.minutes
        for index in range(bisect_right(self.ends, created_at), len(self.spans)):
            opens, closes = self.spans[index]
            begin = max(opens, created_at)
            if closes - begin >= remaining:
                return begin + remaining
            remaining -= closes - begin
        return sla_due_at(self.dealer, created_at)


def sla_warning_at(dealer: DealerLike, created_at: datetime) -> datetime:
    """When the dealer's manager is warned that nobody has contacted the lead yet."""
    return add_business_minutes(dealer, created_at, _figures(dealer)[1])


@dataclass(frozen=True, slots=True)
class SlaState:
    lead: Lead
    customer: str | None
    dealer_code: str | None
    warning_at: datetime
    due_at: datetime
    breached: bool


def _dealers(session: Session) -> dict[int, DealerEntry]:
    return {entry.id: entry for entry in q.dealer_directory(session)}


def _states(
    session: Session,
    now: datetime,
    *,
    warned: bool | None,
    limit: int | None,
    scope: DealerScope = NETWORK,
) -> list[SlaState]:
    dealers = _dealers(session)
    shortest = min(
        [entry.sla_warning_minutes for entry in dealers.values()] + [DEFAULT_SLA_WARNING_MINUTES]
    )
    # Opening-hours minutes never outrun the clock: younger leads cannot be at risk yet.
    rows = q.uncontacted_open_leads(
        session,
        created_before=now - timedelta(minutes=shortest),
        warned=warned,
        limit=limit,
        scope=scope,
    )
    found = []
    for lead, name in rows:
        dealer = dealers.get(lead.dealer_id) if lead.dealer_id is not None else None
        warning_at = sla_warning_at(dealer, lead.created_at)
        if warning_at > now:
            continue
        due_at = sla_due_at(dealer, lead.created_at)
        found.append(
            SlaState(
                lead=lead,
                customer=name,
                dealer_code=dealer.code if dealer else None,
                warning_at=warning_at,
                due_at=due_at,
                breached=due_at <= now,
            )
        )
    return found


def due_warnings(session: Session, now: datetime) -> list[SlaState]:
    """The leads whose warning time has passed with no contact and that were not warned yet;
    each is marked warned (once), and those past their due time are counted as breached."""
    pending = _states(session, now, warned=None, limit=None)
    _record_breaches(session, pending)
    states = [state for state in pending if state.lead.sla_warned_at is None]
    q.mark_warned(session, [state.lead.id for state in states], now)
    for state in states:
        log.info(
            "lead %s at dealer %s: no contact yet, due %s",
            state.lead.id,
            state.dealer_code or "(unassigned queue)",
            state.due_at.isoformat(),
        )
    session.flush()
    return states


def at_risk(
    session: Session, now: datetime, *, scope: DealerScope = NETWORK, limit: int = 50
) -> list[SlaState]:
    """Open leads of the dealers in `scope` past their warning time with no contact (breached
    ones included), oldest first: what the manager's leads page lists, with breaches found so
    far recorded."""
    states = _states(session, now, warned=None, limit=limit, scope=scope)
    _record_breaches(session, states)
    return states


def _record_breaches(session: Session, states: Sequence[SlaState]) -> None:
    q.mark_breached(
        session,
        {
            state.lead.id: state.due_at
            for state in states
            if state.breached and state.lead.sla_breached_at is None
        },
    )


def note_first_contact(session: Session, lead: Lead, now: datetime) -> None:
    """Called as a contact attempt is logged: a first contact after the due time is a breach.
    The managers' warnings about the lead are settled: it has been contacted."""
    settle_sla_warnings(session, lead_id=lead.id, now=now)
    if lead.sla_breached_at is not None or q.has_contact_attempt(session, lead.id):
        return
    dealer = session.get(Dealer, lead.dealer_id) if lead.dealer_id is not None else None
    due = sla_due_at(dealer, lead.created_at)
    if now > due:
        lead.sla_breached_at = due


def breaches_since(session: Session, since: datetime, *, scope: DealerScope = NETWORK) -> int:
    return q.breach_count(session, since=since, scope=scope)
