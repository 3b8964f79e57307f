"""How a quarter's leads spread over its three months (docs/planner.md#seasonality).

Each day of a month weighs what a showroom day is worth: Sundays and public holidays nothing,
Monday to Saturday one, a day in Belgian school holidays less (SCHOOL_HOLIDAY_WEIGHT). The
`holidays` library knows the public holidays of both countries and the school holidays of
Belgium's communities, not those of the Netherlands (they differ per region and are published
by the government year by year), so a Dutch month's school-holiday dip comes from the network's
own history instead: with enough past leads in the same months, a month's weight is its leads
per showroom day in past years times this year's showroom days; without, its showroom days.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import holidays

from cdp.dealers.public_holidays import is_public_holiday

COUNTRIES = ("NL", "BE")
SCHOOL_HOLIDAY_WEIGHT = 0.8  # a school-holiday day brings fewer showroom visits (assumption)
# Belgium's school holidays are its communities'; the Flemish Community's, the largest, apply.
BE_SCHOOL_COMMUNITY = "Flemish"
HISTORY_YEARS = 2  # the same months of the last two years
MIN_HISTORY_LEADS = 60  # over the quarter's three months, before history decides the spread


def quarter_months(quarter: int) -> tuple[int, int, int]:
    first = 3 * (quarter - 1) + 1
    return (first, first + 1, first + 2)


@cache
def _school(country: str, year: int) -> frozenset[date]:
    if country != "BE":
        return frozenset()  # the library has no Dutch school holidays
    found = holidays.country_holidays(
        "BE", subdiv=BE_SCHOOL_COMMUNITY, years=year, categories=("school",)
    )
    return frozenset(found.keys())


def day_weight(day: date, country: str) -> float:
    if day.weekday() == 6 or is_public_holiday(country, day):
        return 0.0
    if day in _school(country, day.year):
        return SCHOOL_HOLIDAY_WEIGHT
    return 1.0


def showroom_days(year: int, month: int, country: str) -> float:
    """The month's showroom days, holidays taken out (school holidays partly)."""
    first = date(year, month, 1)
    days = calendar.monthrange(year, month)[1]
    return sum(day_weight(first + timedelta(days=n), country) for n in range(days))


@dataclass(frozen=True)
class Spread:
    """The quarter's months, each month's share of its leads, and what decided the shares."""

    months: tuple[int, int, int]
    weights: tuple[float, float, float]
    days: tuple[float, float, float]  # showroom days this year
    source: str  # "history" or "days"
    history_leads: int  # past leads the history held (0 when none were looked at)


def spread(
    *,
    year: int,
    quarter: int,
    country: str,
    history: Mapping[tuple[int, int], int],
) -> Spread:
    """The quarter's monthly weights. `history`: (year, month) -> valid leads, for the same
    months of earlier years (HISTORY_YEARS); a year counts only when each of its three months
    had leads (a dealer that opened mid-quarter would skew the shape)."""
    months = quarter_months(quarter)
    days = tuple(showroom_days(year, m, country) for m in months)
    years = [
        y
        for y in range(year - HISTORY_YEARS, year)
        if all(history.get((y, m), 0) > 0 for m in months)
    ]
    total = sum(history.get((y, m), 0) for y in years for m in months)
    if years and total >= MIN_HISTORY_LEADS:
        per_day = [
            sum(history.get((y, m), 0) for y in years)
            / sum(showroom_days(y, m, country) for y in years)
            for m in months
        ]
        raw = [rate * d for rate, d in zip(per_day, days, strict=True)]
        return Spread(months, _normalised(raw), _three(days), "history", total)
    return Spread(months, _normalised(list(days)), _three(days), "days", total)


def _normalised(values: Sequence[float]) -> tuple[float, float, float]:
    total = sum(values)
    if total <= 0:
        return (1 / 3, 1 / 3, 1 / 3)
    return _three([v / total for v in values])


def _three(values: Sequence[float]) -> tuple[float, float, float]:
    a, b, c = values
    return (a, b, c)


def split(total: int, weights: Sequence[float]) -> list[int]:
    """Whole leads per month summing to `total`: each month its floor, the rest to the months
    with the largest remainders (earlier months first on a tie)."""
    exact = [total * w for w in weights]
    whole = [int(x) for x in exact]
    rest = total - sum(whole)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - whole[i]), i))
    for i in order[:rest]:
        whole[i] += 1
    return whole
