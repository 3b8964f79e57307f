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

Cost per sale needs spend: until spend is recorded per channel, the form takes each channel's
spend for the quarter, and cost per sale is shown where spend was given.
"""

from __future__ import annotations

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
    sales: tuple[float, float, float]  # before the what-ifs
    sales_after: tuple[float, float, float]
    spend: float | None
    capped: bool = False  # its lead-to-sale after the what-ifs would pass 100%

    @property
    def cost_per_sale(self) -> float | None:
        total = sum(self.sales)
        return self.spend / total if self.spend is not None and total else None

    @property
    def cost_per_sale_after(self) -> float | None:
        total = sum(self.sales_after)
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
        return sum(sum(c.sales) for c in self.channels)

    @property
    def sales_after(self) -> float:
        return sum(sum(c.sales_after) for c in self.channels)

    @property
    def spend(self) -> float | None:
        given = [c.spend for c in self.channels if c.spend is not None]
        return sum(given) if given else None

    def _cost(self, after: bool) -> float | None:
        spent = [c for c in self.channels if c.spend is not None]
        if not spent:
            return None
        sales = sum(sum(c.sales_after if after else c.sales) for c in spent)
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
    channels = []
    for channel, leads in scenario.leads.items():
        rate = scenario.rates[channel]
        after = min(1.0, rate * factor)
        channels.append(
            ChannelOutlook(
                channel=channel,
                rate=rate,
                leads=leads,
                sales=(leads[0] * rate, leads[1] * rate, leads[2] * rate),
                sales_after=(leads[0] * after, leads[1] * after, leads[2] * after),
                spend=scenario.spend.get(channel),
                capped=rate * factor > 1,
            )
        )
    return Outlook(
        scenario=scenario,
        channels=channels,
        effects=effects,
        factor=factor,
        reach_asked=reach_asked,
    )
