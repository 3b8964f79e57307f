"""The planner's forms read into typed inputs, every problem named by its field, so a page can
re-render the form with each one marked. Fields arrive as text (a query string or a form)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from cdp.models import LEAD_CHANNELS
from cdp.planner.forward import SPEED, Change
from cdp.planner.queries import STEPS
from cdp.planner.reverse import BASES, Target
from cdp.planner.seasonality import COUNTRIES

MAX_CARS = 1_000_000
MAX_LEADS = 1_000_000
MAX_SPEND = 1_000_000_000
YEARS = (2000, 2100)


@dataclass
class Reading:
    """The form's values as typed (to show again) and the problems found, field -> message."""

    values: dict[str, str]
    problems: dict[str, str] = field(default_factory=dict)

    def text(self, name: str) -> str:
        return self.values.get(name, "").strip()

    def number(
        self, name: str, label: str, *, low: float, high: float, whole: bool, blank: float | None
    ) -> float | None:
        raw = self.text(name).replace(",", ".").removesuffix("%").strip()
        if not raw:
            if blank is None:
                self.problems[name] = f"{label}: required."
            return blank
        try:
            value = float(raw)
        except ValueError:
            self.problems[name] = f"{label}: {self.text(name)!r} is not a number."
            return None
        if not math.isfinite(value) or (whole and not value.is_integer()):
            self.problems[name] = f"{label}: a whole number, please."
            return None
        if not low <= value <= high:
            self.problems[name] = f"{label}: between {_shown(low)} and {_shown(high)}."
            return None
        return value

    def choice(self, name: str, label: str, allowed: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if value not in allowed:
            self.problems[name] = f"{label}: one of {', '.join(allowed)}."
            return None
        return value


def _shown(value: float) -> str:
    return f"{int(value):,}".replace(",", ".") if float(value).is_integer() else f"{value:g}"


def read(values: Mapping[str, str]) -> Reading:
    return Reading({k: v for k, v in values.items() if isinstance(v, str)})


def _quarter(r: Reading) -> tuple[int | None, int | None]:
    year = r.number("year", "Year", low=YEARS[0], high=YEARS[1], whole=True, blank=None)
    quarter = r.number("quarter", "Quarter", low=1, high=4, whole=True, blank=None)
    return (None if year is None else int(year), None if quarter is None else int(quarter))


def reverse_target(r: Reading) -> Target | None:
    """The target of the reverse form: year, quarter, country, basis, new and used cars, and
    the share of sales per channel (`mix-CHANNEL`, percent; blank is 0), summing to 100.

    None when any of it is wrong, with the problems in `r`. A field read returns None exactly
    when it found a problem; counting `r.problems` instead failed when the page read the same
    form twice (the second read finds the same problems under the same keys)."""
    year, quarter = _quarter(r)
    country = r.choice("country", "Holidays of", COUNTRIES)
    basis = r.choice("basis", "Conversion", BASES)
    new = r.number("target_new", "New cars", low=0, high=MAX_CARS, whole=True, blank=0)
    used = r.number("target_used", "Used cars", low=0, high=MAX_CARS, whole=True, blank=0)
    wrong = None in (year, quarter, country, basis, new, used)
    if new is not None and used is not None and new + used == 0:
        r.problems["target_new"] = "A target: new cars, used cars or both, at least one car."
        wrong = True
    mix: dict[str, float] = {}
    for channel in LEAD_CHANNELS:
        share = r.number(f"mix-{channel}", "Share", low=0, high=100, whole=False, blank=0)
        if share is not None:
            mix[channel] = share
    if len(mix) < len(LEAD_CHANNELS):
        wrong = True
    elif abs(sum(mix.values()) - 100) > 0.5:
        r.problems["mix"] = (
            f"The channels' shares of sales add up to {sum(mix.values()):g}%: they must make 100%."
        )
        wrong = True
    if wrong or year is None or quarter is None or country is None or basis is None:
        return None
    assert new is not None and used is not None
    return Target(year, quarter, country, basis, int(new), int(used), mix)


def plan_name(r: Reading) -> str | None:
    name = " ".join(r.text("name").split())
    if not name:
        r.problems["name"] = "Name: required, so the plan can be found again."
        return None
    if len(name) > 120:
        r.problems["name"] = "Name: at most 120 characters."
        return None
    return name


@dataclass(frozen=True)
class ForwardInput:
    year: int
    quarter: int
    basis: str
    leads: dict[str, tuple[int, int, int]]
    changes: dict[str, Change]
    spend: dict[str, float]
    reach_now: float | None = None  # the reach now as typed (0-1), when speed is planned


def forward_input(r: Reading) -> ForwardInput | None:
    """The forward form: leads per channel and month (`leads-CHANNEL-0..2`), what-ifs as a
    figure now and planned (`now-KEY`, `plan-KEY`, percent: a planned figure needs
    the figure now; the reach now is read for speed to lead too), and spend per
    channel for the quarter (`spend-CHANNEL`, euros, optional)."""
    year, quarter = _quarter(r)
    basis = r.choice("basis", "Conversion", BASES)
    wrong = False  # a field read returns None exactly when it found a problem (reverse_target)
    leads: dict[str, tuple[int, int, int]] = {}
    for channel in LEAD_CHANNELS:
        months = [
            r.number(f"leads-{channel}-{i}", "Leads", low=0, high=MAX_LEADS, whole=True, blank=0)
            for i in range(3)
        ]
        wrong = wrong or None in months
        if all(m is not None for m in months) and sum(m or 0 for m in months) > 0:
            a, b, c = (int(m or 0) for m in months)
            leads[channel] = (a, b, c)
    if not leads and not wrong:
        r.problems["leads"] = "Leads: expect at least one lead in some channel and month."
        wrong = True
    changes: dict[str, Change] = {}
    for key in (*STEPS, SPEED):
        now_field, plan_field = f"now-{key}", f"plan-{key}"
        if not r.text(plan_field):
            continue  # "now" alone is the figure as it is: no change
        low = 0 if key == SPEED else 0.1  # a stage at 0% cannot be scaled from
        now = r.number(now_field, "Now", low=low, high=100, whole=False, blank=None)
        plan = r.number(plan_field, "Planned", low=0, high=100, whole=False, blank=None)
        if now is not None and plan is not None:
            changes[key] = Change(now / 100, plan / 100)
        else:
            wrong = True
    reach_now = None
    if SPEED in changes and "reached" not in changes and r.text("now-reached"):
        typed = r.number("now-reached", "Now", low=0, high=100, whole=False, blank=None)
        reach_now = None if typed is None else typed / 100
        wrong = wrong or typed is None
    spend: dict[str, float] = {}
    for channel in LEAD_CHANNELS:
        amount = (
            r.number(f"spend-{channel}", "Spend", low=0, high=MAX_SPEND, whole=False, blank=None)
            if r.text(f"spend-{channel}")
            else None
        )
        if amount is not None:
            spend[channel] = amount
        elif r.text(f"spend-{channel}"):
            wrong = True
    if wrong or year is None or quarter is None or basis is None:
        return None
    return ForwardInput(year, quarter, basis, leads, changes, spend, reach_now)
