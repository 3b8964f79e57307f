"""The lead funnel per channel against the lead-to-sale norms dealers plan with, and the plan
calculator: how many leads of each channel a sales target needs.

A lead counts in the period it came in. How far it got is the furthest stage it ever reached
(its stage history, so a lead lost after a test drive still counts as having had one). Invalid
and duplicate leads are not leads: they are shown, but left out of every rate.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.dealers.visibility import NETWORK, DealerScope
from cdp.models import LEAD_CHANNELS, Lead, LeadStageChange

# Lead-to-sale conversion norms (docs/funnel.md): first-line leads from the importer or the
# dealer's own website 20%, second-line leads from marketplaces 15%, phone 22%, direct mail on
# passive leads 5%. Walk-ins, referrals and events are channels of their own, without a norm.
NORMS: dict[str, float] = {
    "website": 0.20,
    "importer": 0.20,
    "marketplace": 0.15,
    "phone": 0.22,
    "direct_mail": 0.05,
}
ONLINE_CHANNELS = ("website", "importer", "marketplace")
ONLINE_FLOOR = 0.13  # the minimum base for any online lead, not the goal

# The funnel's steps, in order; a later stage implies every earlier one.
STEPS = ("reached", "appointment", "test_drive", "quote", "sold")
_RANK = {
    "new": 0,
    "attempted": 0,
    "reached": 1,
    "appointment": 2,
    "test_drive": 3,
    "quote": 4,
    "sold": 5,
    "delivered": 5,
}
NOT_LEADS = ("invalid", "duplicate")


@dataclass
class ChannelFunnel:
    channel: str
    leads: int = 0  # real leads: invalid and duplicates left out
    not_leads: int = 0
    open: int = 0
    lost: int = 0
    reached_step: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))
    lost_reasons: Counter[str] = field(default_factory=Counter)

    @property
    def sold(self) -> int:
        return self.reached_step["sold"]

    def share(self, step: str) -> float | None:
        return self.reached_step[step] / self.leads if self.leads else None

    @property
    def conversion(self) -> float | None:
        return self.share("sold")

    @property
    def norm(self) -> float | None:
        return NORMS.get(self.channel)

    @property
    def floor(self) -> float | None:
        return ONLINE_FLOOR if self.channel in ONLINE_CHANNELS else None

    @property
    def verdict(self) -> str | None:
        """'above' or 'below' the norm, 'below the floor' for online leads under 13%, or None
        without a norm or with too few decided leads to say."""
        decided = self.sold + self.lost
        if self.norm is None or self.conversion is None or decided < 5:
            return None
        if self.floor is not None and self.conversion < self.floor:
            return "below the floor"
        return "above" if self.conversion >= self.norm else "below"

    def leads_needed(self, cars: int, rate: float | None) -> int | None:
        """Leads of this channel that `cars` sales need at this conversion rate."""
        return math.ceil(cars / rate) if rate else None


@dataclass
class Funnel:
    since: datetime
    until: datetime
    channels: list[ChannelFunnel]
    total: ChannelFunnel


def funnel(
    session: Session, *, since: datetime, until: datetime, scope: DealerScope = NETWORK
) -> Funnel:
    """Every channel (those without leads too, so the table keeps its shape), and the total,
    over the leads of the dealers in `scope`."""
    leads = session.execute(
        select(Lead.id, Lead.channel, Lead.stage, Lead.lost_reason).where(
            Lead.created_at >= since, Lead.created_at < until, scope.where(Lead.dealer_id)
        )
    ).all()
    furthest: dict[int, int] = defaultdict(int)
    lead_ids = [row.id for row in leads]
    for start in range(0, len(lead_ids), 5000):  # bounded IN lists
        chunk = lead_ids[start : start + 5000]
        for lead_id, stage in session.execute(
            select(LeadStageChange.lead_id, LeadStageChange.to_stage).where(
                LeadStageChange.lead_id.in_(chunk)
            )
        ):
            furthest[lead_id] = max(furthest[lead_id], _RANK.get(stage, 0))
    by_channel = {channel: ChannelFunnel(channel) for channel in LEAD_CHANNELS}
    total = ChannelFunnel("all")
    for lead_id, channel, stage, lost_reason in leads:
        row = by_channel.setdefault(channel, ChannelFunnel(channel))
        for target in (row, total):
            if stage in NOT_LEADS:
                target.not_leads += 1
                continue
            target.leads += 1
            rank = max(furthest[lead_id], _RANK.get(stage, 0))
            for step in STEPS[:rank]:
                target.reached_step[step] += 1
            if stage == "lost":
                target.lost += 1
                target.lost_reasons[lost_reason or "other"] += 1
            elif stage in _RANK and _RANK[stage] < _RANK["sold"]:
                target.open += 1
    return Funnel(since=since, until=until, channels=list(by_channel.values()), total=total)


def period(days: int, now: datetime) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now
