"""What the spend returned, per channel and campaign per month and for a whole period: leads,
valid leads, sales, spend, cost per lead, per valid lead and per sale, and the return on spend,
(sales * margin per sale - spend) / spend, counting the sales of a month, channel and campaign
only where that month, channel and campaign had spend.

Leads are a cohort: those created in the period, counted at the furthest stage they reached
(a lead sold in April that came in in March is March's sale). A lead's campaign is the utm
campaign of its last touch, or its first (cdp/leads/attribution.py); a lead without one, and
spend entered without a campaign, make the channel's "no campaign" row, and the channel's total
holds all of them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from cdp.dealers.visibility import DealerScope
from cdp.models import LEAD_CHANNELS
from cdp.spend import repository
from cdp.spend.periods import Period
from cdp.spend.service import margins

TOUCH_CHOICES = {"last": "Last touch", "first": "First touch"}
CENT = Decimal("0.01")


@dataclass
class Figures:
    leads: int = 0
    valid: int = 0
    sales: int = 0
    spend: Decimal = Decimal("0.00")
    earned: Decimal = Decimal("0.00")  # the margin of the sales
    unpriced: int = 0  # sales with no margin to count (none set for their dealer or the network)
    # The same, of the sales in a month, channel and campaign that had spend: what the return
    # counts, so walk-ins, referrals and campaigns paid by someone else do not inflate it.
    paid_earned: Decimal = Decimal("0.00")
    paid_unpriced: int = 0

    def add(self, other: Figures) -> None:
        self.leads += other.leads
        self.valid += other.valid
        self.sales += other.sales
        self.spend += other.spend
        self.earned += other.earned
        self.unpriced += other.unpriced
        self.paid_earned += other.paid_earned
        self.paid_unpriced += other.paid_unpriced

    def _per(self, count: int) -> Decimal | None:
        if not count or not self.spend:
            return None
        return (self.spend / count).quantize(CENT)

    @property
    def cost_per_lead(self) -> Decimal | None:
        return self._per(self.leads)

    @property
    def cost_per_valid_lead(self) -> Decimal | None:
        return self._per(self.valid)

    @property
    def cost_per_sale(self) -> Decimal | None:
        return self._per(self.sales)

    @property
    def return_on_spend(self) -> float | None:
        """(paid sales * margin - spend) / spend; None without spend, or with a paid sale of
        unknown margin."""
        if not self.spend or self.paid_unpriced:
            return None
        return float((self.paid_earned - self.spend) / self.spend)

    @property
    def empty(self) -> bool:
        return not self.leads and not self.spend


@dataclass
class CampaignReturn:
    campaign: str  # "" for no campaign
    figures: Figures = field(default_factory=Figures)
    months: dict[date, Figures] = field(default_factory=dict)


@dataclass
class ChannelReturn:
    channel: str
    total: Figures = field(default_factory=Figures)
    campaigns: list[CampaignReturn] = field(default_factory=list)


@dataclass
class SpendReturn:
    period: Period
    touch: str
    channels: list[ChannelReturn]  # those with leads or spend, in the built-in order
    months: list[tuple[date, Figures]]  # every month of the period, all channels
    total: Figures
    network_margin: Decimal | None
    margin_missing: bool  # some sales had no margin: their return is not shown

    @property
    def max_cost_per_sale(self) -> Decimal | None:
        found = [c.total.cost_per_sale for c in self.channels if c.total.cost_per_sale]
        return max(found) if found else None


def spend_return(
    session: Session, *, period: Period, scope: DealerScope, touch: str = "last"
) -> SpendReturn:
    """The return of the spend in `scope` over `period` (one query for leads, one for spend)."""
    bounds = period.bounds()
    known = margins(session)
    counts = repository.lead_counts(
        session, months=bounds, scope=scope, touch=touch, network_margin=known.network
    )
    spent = repository.spend_totals(
        session, first=period.months[0], last=period.months[-1], scope=scope
    )
    cells: dict[tuple[str, str], dict[date, Figures]] = defaultdict(dict)
    for row in counts:
        month = period.months[row.month]
        cell = cells[(row.channel, row.campaign)].setdefault(month, Figures())
        cell.add(
            Figures(row.leads, row.valid, row.sales, Decimal("0.00"), row.earned, row.unpriced)
        )
    for month, channel, campaign, amount in spent:
        cells[(channel, campaign)].setdefault(month, Figures()).spend += amount
    for per_month in cells.values():
        for cell in per_month.values():
            if cell.spend:
                cell.paid_earned, cell.paid_unpriced = cell.earned, cell.unpriced

    by_channel: dict[str, ChannelReturn] = {}
    month_totals = {month: Figures() for month in period.months}
    total = Figures()
    for (channel, campaign), per_month in cells.items():
        line = CampaignReturn(campaign, months=dict(sorted(per_month.items())))
        for month, figures in per_month.items():
            line.figures.add(figures)
            month_totals[month].add(figures)
        target = by_channel.setdefault(channel, ChannelReturn(channel))
        target.campaigns.append(line)
        target.total.add(line.figures)
        total.add(line.figures)
    order = {channel: index for index, channel in enumerate(LEAD_CHANNELS)}
    channels = sorted(by_channel.values(), key=lambda c: (order.get(c.channel, 99), c.channel))
    for channel_return in channels:
        # Campaigns by what they cost, then by leads; "no campaign" last.
        channel_return.campaigns.sort(
            key=lambda c: (c.campaign == "", -c.figures.spend, -c.figures.leads, c.campaign)
        )
    return SpendReturn(
        period=period,
        touch=touch,
        channels=channels,
        months=list(month_totals.items()),
        total=total,
        network_margin=known.network,
        margin_missing=total.paid_unpriced > 0,
    )
