"""The funnel's filters, read from a page's query: period, definition, channel, campaign (first
or last touch), salesperson. The dealer is `cdp.web.dealer_choice`'s; who may pick which
salesperson is the page's to decide (a salesperson sees only their own leads).

A filter typed wrong never fails the page: `read_filters` falls back to the default for that
filter and names the problem, so the page shows what it used and marks what it could not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from cdp.dealers.visibility import NETWORK, DealerScope
from cdp.ids import row_id
from cdp.local_time import local_start, local_today
from cdp.models import LEAD_CHANNELS

DEFINITIONS = ("cohort", "activity")
TOUCHES = ("last", "first")
DEFAULT_PERIOD = "last90"
ROLLING = {"last30": 30, "last90": 90, "last365": 365}
EARLIEST_YEAR = 2000
MAX_RANGE_DAYS = 3 * 366

_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-[Qq]([1-4])")
_YEAR = re.compile(r"(\d{4})")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Period:
    """[since, until) in UTC, from showroom-time calendar days; `key` as typed back in links."""

    key: str
    label: str
    since: datetime
    until: datetime
    start: date  # the first and last calendar day shown
    end: date


@dataclass(frozen=True)
class FunnelFilters:
    period: Period
    definition: str = "cohort"
    channel: str | None = None
    campaign: str | None = None
    touch: str = "last"
    salesperson_id: int | None = None
    scope: DealerScope = NETWORK
    dealer_code: str = ""

    def query(self, **changes: str) -> dict[str, str]:
        """The query parameters that give these filters again (with `changes`), for links."""
        params: dict[str, str] = {"period": self.period.key, "definition": self.definition}
        if self.period.key == "range":
            params |= {"from": self.period.start.isoformat(), "to": self.period.end.isoformat()}
        if self.channel:
            params["channel"] = self.channel
        if self.campaign:
            params |= {"campaign": self.campaign, "touch": self.touch}
        if self.salesperson_id is not None:
            params["salesperson"] = str(self.salesperson_id)
        if self.dealer_code:
            params["dealer"] = self.dealer_code
        params |= changes
        return {key: value for key, value in params.items() if value != ""}

    def for_network(self) -> FunnelFilters:
        """The same filters over every dealer and salesperson: the network's figures."""
        return FunnelFilters(
            period=self.period,
            definition=self.definition,
            channel=self.channel,
            campaign=self.campaign,
            touch=self.touch,
        )


@dataclass
class FilterInput:
    """What the page's query held, as typed (each already cut to a sane length)."""

    period: str = ""
    date_from: str = ""
    date_to: str = ""
    definition: str = ""
    channel: str = ""
    campaign: str = ""
    touch: str = ""
    salesperson: str = ""


@dataclass
class ReadFilters:
    filters: FunnelFilters
    problems: dict[str, str] = field(default_factory=dict)  # field -> what was wrong


def _days(key: str, label: str, start: date, end: date) -> Period:
    """The calendar days start..end (inclusive) in showroom time."""
    since = local_start(start, time(0, 0))
    until = local_start(end + timedelta(days=1), time(0, 0))
    return Period(key, label, since, until, start, end)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _valid_year(year: int, today: date) -> bool:
    return EARLIEST_YEAR <= year <= today.year + 1


def period_of(key: str, now: datetime) -> Period | None:
    """A named period: last30/last90/last365 (up to today), YYYY-MM, YYYY-Qn, YYYY; None when
    the key names none."""
    today = local_today(now)
    if key in ROLLING:
        days = ROLLING[key]
        return _days(key, f"the last {days} days", today - timedelta(days=days - 1), today)
    if (m := _MONTH.fullmatch(key)) and 1 <= int(m[2]) <= 12 and _valid_year(int(m[1]), today):
        first = date(int(m[1]), int(m[2]), 1)
        return _days(key, first.strftime("%B %Y"), first, _add_months(first, 1) - timedelta(1))
    if (m := _QUARTER.fullmatch(key)) and _valid_year(int(m[1]), today):
        first = date(int(m[1]), 3 * int(m[2]) - 2, 1)
        last = _add_months(first, 3) - timedelta(days=1)
        return _days(f"{m[1]}-Q{m[2]}", f"Q{m[2]} {m[1]}", first, last)
    if (m := _YEAR.fullmatch(key)) and _valid_year(int(m[1]), today):
        year = int(m[1])
        return _days(key, str(year), date(year, 1, 1), date(year, 12, 31))
    return None


def _day(text: str) -> date | None:
    if not _DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _range(raw: FilterInput, problems: dict[str, str]) -> Period | None:
    start, end = _day(raw.date_from.strip()), _day(raw.date_to.strip())
    if start is None:
        problems["from"] = "Type the first day as YYYY-MM-DD."
    if end is None:
        problems["to"] = "Type the last day as YYYY-MM-DD."
    if start is None or end is None:
        return None
    if end < start:
        problems["to"] = "The last day comes before the first."
        return None
    if (end - start).days >= MAX_RANGE_DAYS:
        problems["to"] = "A range covers three years at most."
        return None
    if start.year < EARLIEST_YEAR or end.year > 9000:
        problems["from"] = f"Pick days from {EARLIEST_YEAR} on."
        return None
    return _days("range", f"{start:%d-%m-%Y} to {end:%d-%m-%Y}", start, end)


def read_filters(
    raw: FilterInput, *, now: datetime, scope: DealerScope, dealer_code: str
) -> ReadFilters:
    """The filters the query asks for; each one that cannot be read falls back to its default
    and is named in `problems`. The salesperson is only read here; the page checks it."""
    problems: dict[str, str] = {}
    key = raw.period.strip() or DEFAULT_PERIOD
    found = _range(raw, problems) if key == "range" else period_of(key, now)
    if found is None:
        if key != "range":
            problems["period"] = "Pick a period: a month (2026-03), a quarter (2026-Q1) or a year."
        found = period_of(DEFAULT_PERIOD, now)
        assert found is not None
    definition = raw.definition.strip() or "cohort"
    if definition not in DEFINITIONS:
        problems["definition"] = "Pick cohort or activity."
        definition = "cohort"
    channel = raw.channel.strip() or None
    if channel is not None and channel not in LEAD_CHANNELS:
        problems["channel"] = "There is no such channel."
        channel = None
    touch = raw.touch.strip() or "last"
    if touch not in TOUCHES:
        problems["touch"] = "Pick first or last touch."
        touch = "last"
    salesperson_id = None
    if raw.salesperson.strip():
        salesperson_id = row_id(raw.salesperson.strip())
        if salesperson_id is None:
            problems["salesperson"] = "There is no such salesperson."
    return ReadFilters(
        FunnelFilters(
            period=found,
            definition=definition,
            channel=channel,
            campaign=raw.campaign.strip()[:200] or None,
            touch=touch,
            salesperson_id=salesperson_id,
            scope=scope,
            dealer_code=dealer_code,
        ),
        problems,
    )


def period_choices(now: datetime) -> list[tuple[str, str]]:
    """The periods a select offers: rolling windows, this and the last few months, quarters,
    and years."""
    today = local_today(now)
    choices = [(key, f"Last {days} days") for key, days in ROLLING.items()]
    month = date(today.year, today.month, 1)
    for back in range(0, 13):
        first = _add_months(month, -back)
        choices.append((f"{first:%Y-%m}", first.strftime("%B %Y")))
    quarter = (today.month - 1) // 3 + 1
    year = today.year
    for _ in range(8):
        choices.append((f"{year}-Q{quarter}", f"Q{quarter} {year}"))
        quarter, year = (quarter - 1, year) if quarter > 1 else (4, year - 1)
    choices += [(str(y), str(y)) for y in range(today.year, today.year - 4, -1)]
    return choices
