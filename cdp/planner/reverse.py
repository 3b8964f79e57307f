"""The planner backwards: from a quarter's sales target to the leads each channel must bring in
each month (docs/planner.md#from-a-sales-target-to-leads).

Leads do not record whether the car was new or used, so the two targets are planned together:
their sum is the sales the leads must make, each channel's share of it is the channel mix, and
a channel's leads are its sales divided by its lead-to-sale rate, rounded up. Each channel's
leads spread over the quarter's months by the seasonality's weights (cdp/planner/seasonality.py),
in whole leads; the sales of a month are its leads times the rate (lead to sale inside the
month: the transaction cycle is not planned).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cdp.leads.norms import Norms
from cdp.planner.observed import Observed
from cdp.planner.seasonality import Spread, split

BASES = ("norm", "observed")


@dataclass(frozen=True)
class Target:
    year: int
    quarter: int
    country: str
    basis: str  # "norm" or "observed"
    new: int
    used: int
    mix: dict[str, float]  # channel -> percent of sales

    @property
    def cars(self) -> int:
        return self.new + self.used


def rate_of(channel: str, basis: str, norms: Norms, observed: Observed) -> tuple[float | None, str]:
    """A channel's lead-to-sale rate and where it came from: at "observed", the channel's own
    rate when it has enough leads, else its norm; at "norm", the norm."""
    if basis == "observed":
        seen = observed.lead_to_sale(channel)
        if seen:
            return seen, "observed"
    norm = norms.lead_to_sale(channel)
    return (norm, "norm") if norm else (None, "none")


@dataclass(frozen=True)
class ChannelNeed:
    channel: str
    share: float  # percent of sales
    sales: float  # of the quarter
    rate: float
    rate_source: str
    leads: int
    leads_by_month: tuple[int, ...]
    sales_by_month: tuple[float, ...]


@dataclass(frozen=True)
class Reverse:
    target: Target
    spread: Spread
    channels: list[ChannelNeed]

    @property
    def leads(self) -> int:
        return sum(c.leads for c in self.channels)

    def leads_in(self, index: int) -> int:
        return sum(c.leads_by_month[index] for c in self.channels)

    def sales_in(self, index: int) -> float:
        return sum(c.sales_by_month[index] for c in self.channels)

    @property
    def sales(self) -> float:
        return sum(c.sales for c in self.channels)


def missing_rates(target: Target, norms: Norms, observed: Observed) -> list[str]:
    """The channels given a share of sales that have no rate to plan with."""
    return [
        channel
        for channel, share in target.mix.items()
        if share > 0 and rate_of(channel, target.basis, norms, observed)[0] is None
    ]


def reverse(target: Target, *, norms: Norms, observed: Observed, spread: Spread) -> Reverse:
    needs = []
    for channel, share in target.mix.items():
        if share <= 0:
            continue
        rate, source = rate_of(channel, target.basis, norms, observed)
        if rate is None:
            raise ValueError(f"no lead-to-sale rate for {channel}")  # checked by missing_rates
        sales = target.cars * share / 100
        # A hair under the whole number is the whole number (20 / 0.2 is 100.00000000000001).
        leads = math.ceil(round(sales / rate, 9))
        by_month = split(leads, spread.weights)
        needs.append(
            ChannelNeed(
                channel=channel,
                share=share,
                sales=sales,
                rate=rate,
                rate_source=source,
                leads=leads,
                leads_by_month=tuple(by_month),
                sales_by_month=tuple(n * rate for n in by_month),
            )
        )
    return Reverse(target=target, spread=spread, channels=needs)
