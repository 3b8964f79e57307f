"""What the last twelve months of leads say: conversions per channel and per stage, the channel
mix of sales, speed to lead against reach, and the history of leads per month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy.orm import Session

from cdp.dealers.visibility import DealerScope
from cdp.local_time import local_start
from cdp.models import LEAD_CHANNELS
from cdp.planner import queries
from cdp.planner.queries import STEPS, SpeedToLead, StepCounts
from cdp.planner.seasonality import HISTORY_YEARS, quarter_months

WINDOW = timedelta(days=365)
# A channel's own lead-to-sale is used once it has this many leads in the window; below it
# one sale more or less swings the rate too far, and the norm stands in.
MIN_OBSERVED_LEADS = 20
# Speed to lead: the observed reach of fast and slow leads is used once each group holds this
# many leads; else the rule of thumb (FAST_REACH_RULE).
MIN_SPEED_LEADS = 20
# Quickly answered leads are reached about 1.5 times as often as the rest: Pied Piper's dealer
# mystery shops find quick, personal, complete answers sell about 50% more to the same web
# traffic (../shared/REFERENCE.md, "speed to lead"); the planner lays all of it on reach.
FAST_REACH_RULE = 1.5


@dataclass(frozen=True)
class Observed:
    since: datetime
    until: datetime
    counts: dict[str, StepCounts]
    speed: SpeedToLead

    @property
    def pooled(self) -> StepCounts:
        total = StepCounts()
        for counts in self.counts.values():
            total.add(counts)
        return total

    def lead_to_sale(self, channel: str) -> float | None:
        counts = self.counts.get(channel)
        if counts is None or counts.leads < MIN_OBSERVED_LEADS:
            return None
        return counts.reached["sold"] / counts.leads

    def step_rate(self, step: str) -> float | None:
        """The conversion into `step` from the step before it, over every channel."""
        pooled = self.pooled
        index = STEPS.index(step)
        before = pooled.leads if index == 0 else pooled.reached[STEPS[index - 1]]
        return pooled.reached[step] / before if before else None

    def sales_mix(self) -> dict[str, float]:
        """Each channel's share of the window's sales, in percent (empty without sales)."""
        sold = {c: n.reached["sold"] for c, n in self.counts.items() if n.reached["sold"]}
        total = sum(sold.values())
        return {c: 100 * n / total for c, n in sold.items()} if total else {}

    def fast_reach_ratio(self) -> tuple[float, str]:
        """How many times more often a lead contacted within 5 minutes is reached than one
        contacted later or never, and where the figure comes from ("observed" or "rule")."""
        s = self.speed
        if s.fast >= MIN_SPEED_LEADS and s.slow >= MIN_SPEED_LEADS and s.slow_reached:
            ratio = (s.fast_reached / s.fast) / (s.slow_reached / s.slow)
            # Fast contact reaching fewer people contradicts every published study: the data
            # says more about who gets called first (the hard cases later?) than about speed.
            return (ratio, "observed") if ratio >= 1 else (FAST_REACH_RULE, "contradicted")
        return FAST_REACH_RULE, "rule"


def observe(session: Session, scope: DealerScope, now: datetime) -> Observed:
    since = now - WINDOW
    counts, speed = queries.observations(session, scope, since=since, until=now)
    return Observed(since=since, until=now, counts=counts, speed=speed)


def month_bounds(year: int, months: tuple[int, ...]) -> list[datetime]:
    """The showroom-time starts of consecutive months, and the end of the last."""
    starts = [local_start(date(year, m, 1), time(0)) for m in months]
    last = months[-1]
    end = date(year + 1, 1, 1) if last == 12 else date(year, last + 1, 1)
    return [*starts, local_start(end, time(0))]


def history(
    session: Session, scope: DealerScope, *, year: int, quarter: int, now: datetime
) -> dict[tuple[int, int], int]:
    """(year, month) -> valid leads, for the quarter's months in the HISTORY_YEARS before
    `year`; months not yet over are left out (a month half gone would look quiet)."""
    months = quarter_months(quarter)
    found: dict[tuple[int, int], int] = {}
    for past in range(year - HISTORY_YEARS, year):
        bounds = month_bounds(past, months)
        if bounds[-1] > now:
            continue
        per_month = queries.totals_by_month(queries.leads_per_month(session, scope, bounds))
        for index, month in enumerate(months):
            found[(past, month)] = per_month.get(index, 0)
    return found


def default_mix(observed: Observed, channels_with_rate: list[str]) -> dict[str, float]:
    """The channel mix a new plan starts from: the sales of the last twelve months by channel,
    among the channels with a lead-to-sale norm (a walk-in or referral channel has none to plan
    its leads with, at the norms a new plan starts from), or without such sales an equal share
    for each of them. Percentages with one decimal summing to exactly 100."""
    sold = {c: s for c, s in observed.sales_mix().items() if c in channels_with_rate}
    mix = {c: 100 * s / sum(sold.values()) for c, s in sold.items()} if sold else {}
    if not mix:
        mix = {c: 100 / len(channels_with_rate) for c in channels_with_rate}
    rounded = {c: round(mix.get(c, 0.0), 1) for c in LEAD_CHANNELS}
    biggest = max(rounded, key=lambda c: rounded[c])
    rounded[biggest] = round(rounded[biggest] + 100 - sum(rounded.values()), 1)
    return rounded
