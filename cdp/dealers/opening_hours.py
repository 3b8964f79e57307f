"""A dealer's opening hours: the free text staff type ("Mon-Fri 9-18, Sat 10-17") read into a
weekly schedule, refused with one clear message when it cannot be read.

The text is a list of rules separated by commas, semicolons or new lines. A rule names days (a
day, a range such as Mon-Fri, or several joined by "/" or "&") and then one or more time ranges
(9-18, 9:00-12:30 13:30-18:00) or "closed". A rule with times but no days adds to the days of the
rule before it ("Mon-Fri 9-12, 13-18"); days alone carry over to the next rule ("Mon, Wed
9-17"). A later rule naming a day replaces that day's hours. Days no rule names are closed.
Day names: English (Mon, Monday, Mo) and Dutch (ma, maandag). Empty text: always open.
Public holidays of the dealer's country are closed unless a rule names them ("Holidays 10-16",
"feestdagen 10-16"); they replace the weekday's hours on those days (cdp/leads/sla.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from cdp.errors import InvalidInput

EXAMPLE = "Mon-Fri 9:00-18:00, Sat 10:00-17:00"
DAY_NAMES: dict[str, int] = {}
for _number, _names in enumerate(
    (
        ("mo", "mon", "monday", "ma", "maandag"),
        ("tu", "tue", "tues", "tuesday", "di", "dinsdag"),
        ("we", "wed", "wednesday", "wo", "woensdag"),
        ("th", "thu", "thur", "thurs", "thursday", "do", "donderdag"),
        ("fr", "fri", "friday", "vr", "vrijdag"),
        ("sa", "sat", "saturday", "za", "zaterdag"),
        ("su", "sun", "sunday", "zo", "zondag"),
    )
):
    for _name in _names:
        DAY_NAMES[_name] = _number
HOLIDAYS = 7  # the schedule's eighth "day": public holidays, whatever their weekday
for _name in ("hol", "holiday", "holidays", "feestdag", "feestdagen"):
    DAY_NAMES[_name] = HOLIDAYS
CLOSED_WORDS = frozenset({"closed", "gesloten"})
_DAY = r"[a-z]+\.?"
_DAYS = re.compile(rf"^({_DAY}(?:\s*-\s*{_DAY})?(?:\s*[/&+]\s*{_DAY}(?:\s*-\s*{_DAY})?)*)\s*:?\s*")
_TIME = r"\d{1,2}(?:[:.h]\d{2})?"
_RANGE = re.compile(rf"^({_TIME})\s*(?:-|–|—|to|tot)\s*({_TIME})$")

# (opening minute, closing minute) after midnight, local time; 24:00 is 1440.
Interval = tuple[int, int]


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Open intervals per weekday (Monday is 0) and on public holidays (HOLIDAYS, index 7), in the
    dealer's local time."""

    days: tuple[tuple[Interval, ...], ...]
    always_open: bool = False

    def is_open_on(self, weekday: int) -> bool:
        return self.always_open or bool(self.days[weekday])

    def hours_on(self, weekday: int, *, holiday: bool) -> tuple[Interval, ...]:
        return self.days[HOLIDAYS if holiday else weekday]


ALWAYS_OPEN = WeeklySchedule(days=((),) * 8, always_open=True)


def _refuse(text: str, part: str, problem: str) -> InvalidInput:
    return InvalidInput(
        f"opening hours {text!r}: {problem} in {part!r} (write them like {EXAMPLE!r})",
        field="opening_hours",
    )


def _minute(raw: str) -> int | None:
    """Minutes after midnight of "9", "9:30", "09.30" or "9h30"; None past 24:00."""
    match = re.fullmatch(r"(\d{1,2})(?:[:.h](\d{2}))?", raw)
    if match is None:
        return None
    minutes = int(match.group(2) or 0)
    value = int(match.group(1)) * 60 + minutes
    return value if minutes < 60 and value <= 24 * 60 else None


def _days(spec: str, text: str, part: str) -> list[int]:
    found: list[int] = []
    for piece in re.split(r"\s*[/&+]\s*", spec.strip()):
        ends = [name.strip().rstrip(".") for name in piece.split("-")]
        numbers = [DAY_NAMES.get(name) for name in ends]
        if any(number is None for number in numbers):
            unknown = next(name for name, n in zip(ends, numbers, strict=True) if n is None)
            raise _refuse(text, part, f"{unknown!r} is not a day")
        first, last = numbers[0], numbers[-1]
        assert first is not None and last is not None
        if HOLIDAYS in numbers:
            if len(numbers) > 1:
                raise _refuse(text, part, "holidays are not part of a range of days")
            found.append(HOLIDAYS)
            continue
        span = (last - first) % 7
        found.extend((first + step) % 7 for step in range(span + 1))
    return found


def _intervals(times: str, text: str, part: str) -> list[Interval]:
    intervals: list[Interval] = []
    for chunk in re.split(r"\s+(?:and|en|&)\s+|\s+(?=\d)", times.strip()):
        match = _RANGE.match(chunk.strip())
        if match is None:
            raise _refuse(text, part, f"{chunk.strip()!r} is not a time range such as 9:00-18:00")
        opens, closes = _minute(match.group(1)), _minute(match.group(2))
        if opens is None or closes is None:
            raise _refuse(text, part, "a time is not on the clock")
        if closes <= opens:
            raise _refuse(text, part, "it closes before it opens")
        intervals.append((opens, closes))
    return intervals


def _merged(intervals: list[Interval]) -> tuple[Interval, ...]:
    merged: list[Interval] = []
    for opens, closes in sorted(intervals):
        if merged and opens <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
        else:
            merged.append((opens, closes))
    return tuple(merged)


@lru_cache(maxsize=1024)  # a network view asks per lead; a dealer's text rarely changes
def parse_opening_hours(text: str | None) -> WeeklySchedule:
    """The weekly schedule of this text, or InvalidInput (field opening_hours) saying what part
    could not be read."""
    clean = (text or "").strip()
    if not clean:
        return ALWAYS_OPEN
    week: dict[int, list[Interval]] = {}
    pending: list[int] = []  # days named without times, for the next rule
    last_days: list[int] = []
    for raw_part in re.split(r"[,;\n]+", clean):
        part = raw_part.strip()
        if not part:
            continue
        # "ma t/m vr", "Mon to Fri", "Mon through Fri": a range of days.
        lowered = re.sub(r"\s+(?:t/m|tot en met|to|through)\s+(?=[a-z])", "-", part.lower())
        days: list[int] = []
        match = _DAYS.match(lowered)
        if match is not None and not lowered[0].isdigit():
            days = _days(match.group(1), clean, part)
            rest = lowered[match.end() :].strip()
        else:
            rest = lowered
        if not rest:
            if not days:
                raise _refuse(clean, part, "nothing to read")
            pending.extend(days)
            continue
        if days:
            days = pending + days
            pending = []
            for day in days:
                week[day] = []  # a later rule replaces the day's hours
        elif pending:
            days, pending = pending, []
            for day in days:
                week[day] = []
        elif last_days:
            days = last_days
        else:
            raise _refuse(clean, part, "no day is named")
        if rest in CLOSED_WORDS:
            for day in days:
                week[day] = []
        else:
            intervals = _intervals(rest, clean, part)
            for day in days:
                week.setdefault(day, []).extend(intervals)
        last_days = days
    if pending:
        raise _refuse(clean, clean, "the last days named have no hours")
    schedule = WeeklySchedule(days=tuple(_merged(week.get(day, [])) for day in range(8)))
    if not any(schedule.days[:HOLIDAYS]):
        raise InvalidInput(
            f"opening hours {clean!r}: the dealer is never open (leave them empty for always open)",
            field="opening_hours",
        )
    return schedule
