"""Public holidays of a dealer's country, from the `holidays` library: days the speed-to-lead
clock skips unless the dealer's opening hours name holidays."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays


@lru_cache(maxsize=128)
def _days_off(country: str, year: int) -> frozenset[date]:
    try:
        return frozenset(holidays.country_holidays(country, years=year))
    except NotImplementedError:  # a country the library does not know: no holidays
        return frozenset()


def is_public_holiday(country: str | None, day: date) -> bool:
    """Whether `day` is a public holiday in `country` (ISO 3166 alpha-2; None: no holidays)."""
    if not country:
        return False
    return day in _days_off(country.upper(), day.year)
