"""The periods the return is shown for: a calendar month, a quarter or a year, in the
showroom's time zone (a lead that came in at 23:30 on 31 March is March's)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from cdp.errors import InvalidInput
from cdp.local_time import local_start, local_today

_PERIOD = re.compile(r"(\d{4})(?:-(?:Q([1-4])|(\d{2})))?")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")  # fmt: skip


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_label(month: date) -> str:
    return f"{MONTH_NAMES[month.month - 1]} {month.year}"


@dataclass(frozen=True, slots=True)
class Period:
    """`kind` month, quarter or year; `key` as in the address (2026-03, 2026-Q1, 2026)."""

    kind: str
    key: str
    months: tuple[date, ...]

    @property
    def label(self) -> str:
        if self.kind == "month":
            return month_label(self.months[0])
        if self.kind == "quarter":
            return f"Q{(self.months[0].month - 1) // 3 + 1} {self.months[0].year}"
        return self.key

    def bounds(self) -> list[tuple[date, datetime, datetime]]:
        """Each month with its start and end as UTC moments (the showroom's midnight)."""
        return [
            (month, local_start(month, time(0)), local_start(next_month(month), time(0)))
            for month in self.months
        ]


def period_of(key: str) -> Period:
    """The period an address names, or InvalidInput."""
    match = _PERIOD.fullmatch(key.strip())
    if match is None or not 2000 <= int(match[1]) <= 2100:
        raise InvalidInput(
            "Choose a period: a year (2026), a quarter (2026-Q1) or a month (2026-03).",
            field="period",
        )
    year = int(match[1])
    if match[2]:
        first = 3 * (int(match[2]) - 1) + 1
        return Period(
            "quarter", key.strip(), tuple(date(year, m, 1) for m in range(first, first + 3))
        )
    if match[3]:
        month = int(match[3])
        if not 1 <= month <= 12:
            raise InvalidInput(f"{key!r} is not a month.", field="period")
        return Period("month", key.strip(), (date(year, month, 1),))
    return Period("year", str(year), tuple(date(year, m, 1) for m in range(1, 13)))


def current_year(now: datetime) -> Period:
    return period_of(str(local_today(now).year))


def choices(now: datetime, *, years: int = 3) -> list[tuple[str, list[Period]]]:
    """What the period menu offers: recent years, their quarters and months, newest first."""
    today = local_today(now)
    year_list = [period_of(str(today.year - n)) for n in range(years)]
    quarters = [
        period_of(f"{year}-Q{q}")
        for year in range(today.year, today.year - years, -1)
        for q in range(4, 0, -1)
        if date(year, 3 * (q - 1) + 1, 1) <= today
    ]
    months = [
        period_of(f"{year}-{m:02d}")
        for year in range(today.year, today.year - years, -1)
        for m in range(12, 0, -1)
        if date(year, m, 1) <= today
    ]
    return [("Years", year_list), ("Quarters", quarters), ("Months", months)]
