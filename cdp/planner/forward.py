"""The planner forwards: from the leads expected per channel and month to the sales to expect,
and what a change at one stage of the funnel does to them (docs/planner.md#what-if).

A lead's chance of a sale is the product of the stage conversions on its way (reached, an
appointment, a test drive, a quote, the sale), so a stage's conversion going from `now` to
`plan` multiplies the sales by plan / now, whatever the channel. Speed to lead acts on reach:
with a share s of leads contacted within five minutes, reached k times as often as the others,
reach is proportional to 1 + (k - 1) s. The what-ifs stack: each one's own effect is shown, and
all of them together.

Nothing goes past 100%: a faster first contact raises reach at most to every lead (its factor
is capped there, and the page says what was asked), and a channel's lead-to-sale after every
change at most to every lead sold (a "now" typed lower than the channel's figures could ask
for more).

A sale comes some time after its lead: the network's median days from lead to sale (over the
last twelve months' sold leads) shifts each month's sales into the months they are made in,
the month's leads taken to come in evenly over its days (`sale_months`); what falls after the
quarter is its leads' sales all the same ("later"). Without a sale to time, a lead's sales are
its month's.

Cost per sale needs spend: until spend is recorded per channel, the form takes each channel's
spend for the quarter, and cost per sale is shown where spend was given.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field

from cdp.planner.queries import STEPS

# What each step's conversion is called on the form: the share of the step before it.
STEP_LABELS = {
    "reached": "Reach rate (reached of leads)",
    "appointment": "Appointment rate (of reached leads)",
    "test_drive": "Test-drive rate (of appointments)",
    "quote": "Quote rate (of test drives)",
    "sold": "Closing rate (sales of quotes)",
}
SPEED = "speed"
SPEED_LABEL = "Speed to lead (share of leads contacted within 5 minutes)"


@dataclass(frozen=True)
class Change:
    """One what-if: a figure now and as planned, both shares from 0 to 1."""

    now: float
    plan: float


@dataclass(frozen=True)
class Scenario:
    year: int
    quarter: int
    basis: str
    leads: dict[str, tuple[int, int, int]]  # channel -> leads per month
    rates: dict[str, float]  # channel -> lead-to-sale
    changes: dict[str, Change] = field(default_factory=dict)  # step or SPEED -> change
    spend: dict[str, float] = field(default_factory=dict)  # channel -> euros in the quarter
    reach_now: float | None = None  # the reach rate now, to cap what speed does to it
    lag_days: float = 0.0  # median days from lead to sale


@dataclass(frozen=True)
class Effect:
    key: str
    label: str
    change: Change
    factor: float
    sales_change: float  # over the quarter, this change alone


@dataclass(frozen=True)
class ChannelOutlook:
    channel: str
    rate: float
    leads: tuple[int, int, int]
    sales: tuple[float, float, float]  # made in each month of the quarter, before the what-ifs
    sales_after: tuple[float, float, float]
    spend: float | None
    capped: bool = False  # its lead-to-sale after the what-ifs would pass 100%
    later: float = 0.0  # made after the quarter by its leads, before the what-ifs
    later_after: float = 0.0

    @property
    def total(self) -> float:
        """Every sale of the quarter's leads, whenever it is made."""
        return sum(self.sales) + self.later

    @property
    def total_after(self) -> float:
        return sum(self.sales_after) + self.later_after

    @property
    def cost_per_sale(self) -> float | None:
        return self.spend / self.total if self.spend is not None and self.total else None

    @property
    def cost_per_sale_after(self) -> float | None:
        total = self.total_after
        return self.spend / total if self.spend is not None and total else None


@dataclass(frozen=True)
class Outlook:
    scenario: Scenario
    channels: list[ChannelOutlook]
    effects: list[Effect]
    factor: float  # all what-ifs together
    reach_asked: float | None = None  # the reach speed to lead asked for, when past 100%

    def sales_in(self, index: int, *, after: bool = False) -> float:
        return sum((c.sales_after if after else c.sales)[index] for c in self.channels)

    def leads_in(self, index: int) -> int:
        return sum(c.leads[index] for c in self.channels)

    @property
    def sales(self) -> float:
        return sum(c.total for c in self.channels)

    @property
    def sales_after(self) -> float:
        return sum(c.total_after for c in self.channels)

    def later(self, *, after: bool = False) -> float:
        return sum(c.later_after if after else c.later for c in self.channels)

    @property
    def spend(self) -> float | None:
        given = [c.spend for c in self.channels if c.spend is not None]
        return sum(given) if given else None

    def _cost(self, after: bool) -> float | None:
        spent = [c for c in self.channels if c.spend is not None]
        if not spent:
            return None
        sales = sum(c.total_after if after else c.total for c in spent)
        return sum(c.spend or 0 for c in spent) / sales if sales else None

    @property
    def cost_per_sale(self) -> float | None:
        """Spend over the sales of the channels with spend given."""
        return self._cost(False)

    @property
    def cost_per_sale_after(self) -> float | None:
        return self._cost(True)


def speed_factor(change: Change, fast_reach_ratio: float) -> float:
    """Reach after / reach before, when the share of leads contacted within 5 minutes moves."""
    k = fast_reach_ratio - 1
    return (1 + k * change.plan) / (1 + k * change.now)


def factor_of(key: str, change: Change, fast_reach_ratio: float) -> float:
    if key == SPEED:
        return speed_factor(change, fast_reach_ratio)
    return change.plan / change.now


def _speed_capped(
    scenario: Scenario, change: Change, fast_reach_ratio: float
) -> tuple[float, float | None]:
    """Speed to lead's factor, at most what takes the reach (as planned, or now) to 100%; and
    the reach it asked for when that was more."""
    own = speed_factor(change, fast_reach_ratio)
    planned = scenario.changes.get("reached")
    reach = planned.plan if planned is not None else scenario.reach_now
    if reach is None or reach <= 0 or reach * own <= 1:
        return own, None
    return 1 / reach, reach * own


def sale_months(year: int, quarter: int, lag_days: float) -> list[tuple[float, ...]]:
    """For each month of the quarter, the shares of its leads' sales made in each of the
    quarter's months and after it (four shares summing to 1): its leads come in evenly over its
    days and each sells `lag_days` later."""
    first = 3 * (quarter - 1) + 1
    days = [calendar.monthrange(year, month)[1] for month in range(first, first + 3)]
    starts = [sum(days[:i]) for i in range(3)]
    lag = max(0.0, lag_days)
    shares = []
    for start, length in zip(starts, days, strict=True):
        sold_from, sold_to = start + lag, start + length + lag
        within = [
            max(0.0, min(sold_to, begin + size) - max(sold_from, begin)) / length
            for begin, size in zip(starts, days, strict=True)
        ]
        shares.append((*within, 1 - sum(within)))
    return shares


def _by_month_of_sale(
    per_lead_month: tuple[float, float, float], shares: list[tuple[float, ...]]
) -> tuple[tuple[float, float, float], float]:
    made = [sum(per_lead_month[i] * shares[i][j] for i in range(3)) for j in range(4)]
    return (made[0], made[1], made[2]), made[3]


def outlook(scenario: Scenario, *, fast_reach_ratio: float) -> Outlook:
    base_sales = {
        channel: sum(leads) * scenario.rates[channel] for channel, leads in scenario.leads.items()
    }
    base_total = sum(base_sales.values())
    effects = []
    factor = 1.0
    reach_asked = None
    for key in (*STEPS, SPEED):
        change = scenario.changes.get(key)
        if change is None:
            continue
        if key == SPEED:
            own, reach_asked = _speed_capped(scenario, change, fast_reach_ratio)
        else:
            own = factor_of(key, change, fast_reach_ratio)
        factor *= own
        label = SPEED_LABEL if key == SPEED else STEP_LABELS[key]
        effects.append(Effect(key, label, change, own, base_total * (own - 1)))
    shares = sale_months(scenario.year, scenario.quarter, scenario.lag_days)
    channels = []
    for channel, leads in scenario.leads.items():
        rate = scenario.rates[channel]
        after = min(1.0, rate * factor)
        sales, later = _by_month_of_sale(
            (leads[0] * rate, leads[1] * rate, leads[2] * rate), shares
        )
        sales_after, later_after = _by_month_of_sale(
            (leads[0] * after, leads[1] * after, leads[2] * after), shares
        )
        channels.append(
            ChannelOutlook(
                channel=channel,
                rate=rate,
                leads=leads,
                sales=sales,
                sales_after=sales_after,
                spend=scenario.spend.get(channel),
                capped=rate * factor > 1,
                later=later,
                later_after=later_after,
            )
        )
    return Outlook(
        scenario=scenario,
        channels=channels,
        effects=effects,
        factor=factor,
        reach_asked=reach_asked,
    )
