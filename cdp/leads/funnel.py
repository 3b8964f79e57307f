"""The lead funnel per channel against the norms, and the why behind it (docs/funnel.md).

Steps: leads, valid leads (invalid and duplicates left out), reached, appointment, show, test
drive, quote, sold. Each step's conversion is over the step before it, lead-to-step over the
valid leads; the norms are the importer's (`cdp.leads.norms`). Two definitions: cohort (leads
created in the period, at the furthest step reached) and activity (steps first reached in the
period). The counting is SQL (`funnel_queries`, `funnel_why`); this module shapes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy.orm import Session

from cdp.leads import funnel_queries as queries
from cdp.leads import progress
from cdp.leads.funnel_filters import FunnelFilters
from cdp.leads.funnel_why import Why, why
from cdp.leads.norms import Norms, channel_labels, load_norms
from cdp.local_time import local_start
from cdp.models import LEAD_CHANNELS

STEPS = progress.STEPS
MIN_BASE = 5  # below this many leads at the step before, a rate says nothing yet
TREND_MONTHS = 12


@dataclass
class ChannelFunnel:
    channel: str  # a channel key, or "all"
    label: str
    counts: dict[str, int]
    norms: dict[str, float | None]  # step -> share of valid leads expected to reach it
    floor: float | None = None
    lost_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def leads(self) -> int:
        return self.counts["leads"]

    @property
    def valid(self) -> int:
        return self.counts["valid"]

    @property
    def sold(self) -> int:
        return self.counts["sold"]

    def before(self, step: str) -> int:
        index = STEPS.index(step)
        return self.counts["valid" if index == 0 else STEPS[index - 1]]

    def conversion(self, step: str) -> float | None:
        """The step's count over the step before it (the valid leads, for the first)."""
        base = self.before(step)
        return self.counts[step] / base if base else None

    def share(self, step: str) -> float | None:
        return self.counts[step] / self.valid if self.valid else None

    @property
    def lead_to_sale(self) -> float | None:
        return self.share("sold")

    def norm_rate(self, step: str) -> float | None:
        """The norm for the step's conversion over the step before it."""
        here = self.norms.get(step)
        index = STEPS.index(step)
        if here is None:
            return None
        if index == 0:
            return here
        before = self.norms.get(STEPS[index - 1])
        return here / before if before else None

    def norm(self, step: str) -> float | None:
        """The norm: the share of valid leads expected to reach the step."""
        return self.norms.get(step)

    def below(self, step: str) -> bool:
        """Fewer of the leads reached the step than the norm expects, with enough leads to
        tell (a step's share of leads against its norm: defined wherever a norm is, unlike
        the conversion from a step that may have none)."""
        share, norm = self.share(step), self.norm(step)
        return share is not None and norm is not None and self.valid >= MIN_BASE and share < norm

    @property
    def lead_to_sale_norm(self) -> float | None:
        return self.norms.get("sold")

    @property
    def verdict(self) -> str | None:
        """'above' or 'below' the lead-to-sale norm, 'below the floor' for online leads under
        13%, or None without a norm or with too few decided leads (sold or lost) to say."""
        decided = self.sold + self.counts["lost"]
        rate, norm = self.lead_to_sale, self.lead_to_sale_norm
        if norm is None or rate is None or decided < MIN_BASE:
            return None
        if self.floor is not None and rate < self.floor:
            return "below the floor"
        return "above" if rate >= norm else "below"


@dataclass(frozen=True)
class LostReasonShare:
    reason: str
    leads: int
    share: float
    network_share: float | None


@dataclass(frozen=True)
class TrendMonth:
    month: date
    leads: int
    sold: int


@dataclass
class Funnel:
    filters: FunnelFilters
    channels: list[ChannelFunnel]
    total: ChannelFunnel
    why: Why
    network_why: Why | None  # None when the page already shows the network
    lost: dict[str, list[LostReasonShare]]  # channel -> reasons by share
    trend: list[TrendMonth]
    campaigns: list[str] | None  # the campaign filter's list, when read with the cohort

    @property
    def definition(self) -> str:
        return self.filters.definition


def _zero() -> dict[str, int]:
    return dict.fromkeys(queries.CELL_KINDS, 0)


def _mix_norms(rows: Iterable[ChannelFunnel]) -> dict[str, float | None]:
    """The norms of a mix of channels: each channel's norm weighted by its valid leads; None
    for a step when a channel with leads has no norm for it."""
    with_leads = [row for row in rows if row.valid]
    total = sum(row.valid for row in with_leads)
    mixed: dict[str, float | None] = {}
    for step in STEPS:
        shares = [row.norms.get(step) for row in with_leads]
        if not total or any(share is None for share in shares):
            mixed[step] = None
            continue
        mixed[step] = sum(row.valid * (row.norms[step] or 0) for row in with_leads) / total
    return mixed


def _lost_shares(
    mine: dict[str, dict[str, int]], network: dict[str, dict[str, int]] | None
) -> dict[str, list[LostReasonShare]]:
    found: dict[str, list[LostReasonShare]] = {}
    for channel, reasons in mine.items():
        total = sum(reasons.values())
        theirs = (network or {}).get(channel, {})
        their_total = sum(theirs.values())
        found[channel] = sorted(
            (
                LostReasonShare(
                    reason=reason,
                    leads=n,
                    share=n / total,
                    network_share=(theirs.get(reason, 0) / their_total)
                    if network is not None and their_total
                    else None,
                )
                for reason, n in reasons.items()
            ),
            key=lambda r: (-r.leads, r.reason),
        )
    totals: dict[str, int] = {}
    for reasons in mine.values():
        for reason, n in reasons.items():
            totals[reason] = totals.get(reason, 0) + n
    if totals:
        all_theirs: dict[str, int] = {}
        for reasons in (network or {}).values():
            for reason, n in reasons.items():
                all_theirs[reason] = all_theirs.get(reason, 0) + n
        grand, their_grand = sum(totals.values()), sum(all_theirs.values())
        found["all"] = sorted(
            (
                LostReasonShare(
                    reason,
                    n,
                    n / grand,
                    (all_theirs.get(reason, 0) / their_grand)
                    if network is not None and their_grand
                    else None,
                )
                for reason, n in totals.items()
            ),
            key=lambda r: (-r.leads, r.reason),
        )
    return found


def trend_months(end: date, months: int = TREND_MONTHS) -> list[tuple[date, datetime, datetime]]:
    """The `months` calendar months up to the one holding `end`, in showroom time."""
    first = date(end.year, end.month, 1)
    found = []
    for back in range(months - 1, -1, -1):
        index = first.year * 12 + first.month - 1 - back
        start = date(index // 12, index % 12 + 1, 1)
        nxt = date((index + 1) // 12, (index + 1) % 12 + 1, 1)
        found.append((start, local_start(start, time(0)), local_start(nxt, time(0))))
    return found


def build_funnel(session: Session, filters: FunnelFilters) -> Funnel:
    """Every channel (those without leads too, so the table keeps its shape), the total, the
    why next to the network's, lost reasons, and the monthly trend."""
    queries.no_jit(session)
    norms: Norms = load_norms(session)
    labels = channel_labels(session)
    mine = queries.cohort(session, filters, with_campaigns=True)
    if filters.definition == "cohort":
        counts = mine.counts
    else:
        counts = queries.activity_counts(session, filters, mine)
    reasons = mine.lost
    channels = [
        ChannelFunnel(
            channel=channel,
            label=labels.get(channel, channel),
            counts=counts.get(channel, _zero()),
            norms={step: norms.share(channel, step) for step in STEPS},
            floor=norms.floor(channel),
            lost_reasons=reasons.get(channel, {}),
        )
        for channel in LEAD_CHANNELS
        if filters.channel is None or channel == filters.channel
    ]
    total_counts = _zero()
    for row in channels:
        for kind, n in row.counts.items():
            total_counts[kind] += n
    total = ChannelFunnel("all", "All channels", total_counts, _mix_norms(channels))
    network = None if filters.scope.network and filters.salesperson_id is None else filters
    network_filters = network.for_network() if network is not None else None
    theirs = queries.cohort(session, network_filters) if network_filters is not None else None
    months = trend_months(filters.period.end)
    trend = queries.monthly_trend(session, filters, [(a, b) for _, a, b in months])
    return Funnel(
        filters=filters,
        channels=channels,
        total=total,
        why=why(session, filters, period_cohort=mine),
        network_why=why(session, network_filters, period_cohort=theirs)
        if network_filters is not None and theirs is not None
        else None,
        lost=_lost_shares(reasons, theirs.lost if theirs is not None else None),
        trend=[
            TrendMonth(month=start, leads=leads, sold=sold)
            for (start, _, _), (leads, sold) in zip(months, trend, strict=True)
        ],
        campaigns=mine.campaigns,
    )


def median_text(seconds: float | None) -> str:
    """A median time as people say it: '4 min', '2.5 h', '3 days'."""
    if seconds is None:
        return "–"
    if seconds < 3600:
        return f"{max(0, round(seconds / 60))} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
