"""The demo's marketing spend: a year of it per channel and campaign, and the margin per sale,
so the return-on-spend page has something believable to show (docs/spend.md).

Runs after the showroom has given the demo's leads their channels. Leads that came with no
campaign (the generator's events carry no utm parameters) are given one of the campaigns the
importer and dealers run in their month, as their last touch; a lead that already carries a
campaign keeps it, and its campaign is spent on like any other. Spend then follows the leads:
each campaign's month costs its leads at the channel's usual cost per lead (marketplace listings
paid by each dealer, the rest by the importer), and always-on campaigns cost a month's budget
in months the demo has no leads for. Safe to run again: with any spend stored it does nothing.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cdp.demo.campaigns import DEMO_CAMPAIGNS, DemoCampaign
from cdp.local_time import to_local
from cdp.models import Dealer, Lead, SaleMargin, SpendEntry
from cdp.spend.periods import next_month

NO_CAMPAIGN_SHARE = 0.2  # leads that came direct, whatever the channel
COST_PER_LEAD = {"website": 55, "dealer_website": 45, "importer": 85, "marketplace": 38,
                 "direct_mail": 32, "event": 120, "phone": 18}  # fmt: skip
PHONE_TRACKING = 450  # a month's call tracking and ads for phone leads, channel-wide
DEALER_SPEND = ("marketplace", "dealer_website")  # dealers pay their listings and own sites
NETWORK_MARGIN = Decimal("1850.00")
BELGIAN_MARGIN = Decimal("2100.00")  # the Belgian dealers' own: list prices are higher there


def seed_spend(session: Session, *, seed: int, now: datetime) -> str:
    """A year of spend up to this month, and the margins; nothing if spend is stored already."""
    if session.scalar(select(func.count()).select_from(SpendEntry)):
        return "spend: already entered"
    rng = random.Random(seed * 31 + 11)
    _give_campaigns(session, rng)
    counts: Counter[tuple[date, str, str, int | None]] = Counter()
    for created_at, channel, touch, dealer_id in session.execute(
        select(Lead.created_at, Lead.channel, Lead.last_touch, Lead.dealer_id).where(
            Lead.stage.not_in(("invalid", "duplicate"))
        )
    ):
        local = to_local(created_at)
        name = (touch or {}).get("name", "").lower() if isinstance(touch, dict) else ""
        payer = dealer_id if channel in DEALER_SPEND else None
        counts[(date(local.year, local.month, 1), channel, name, payer)] += 1
    months = _year_to(now)
    entries = _spend(counts, months, rng)
    for (month, channel, campaign, dealer_id), amount in sorted(
        entries.items(), key=lambda item: (item[0][0], item[0][1], item[0][2], item[0][3] or 0)
    ):
        session.add(SpendEntry(month=month, channel=channel, campaign=campaign,
                               dealer_id=dealer_id, amount=amount, created_at=now,
                               updated_at=now, note="Demo data"))  # fmt: skip
    _margins(session, now)
    session.flush()
    total = sum(entries.values(), Decimal("0"))
    return f"spend: {len(entries)} entries over {len(months)} months, € {total:,.0f} in all"


def _give_campaigns(session: Session, rng: random.Random) -> None:
    """A campaign (cdp/demo/campaigns.py) for each demo lead of a paid channel that came without
    one."""
    paid = sorted({campaign.channel for campaign in DEMO_CAMPAIGNS})
    brand_search = next(c for c in DEMO_CAMPAIGNS if c.name == "brand-search")
    leads = session.scalars(select(Lead).where(Lead.last_touch.is_(None), Lead.channel.in_(paid)))
    for lead in leads:
        if rng.random() < NO_CAMPAIGN_SHARE:
            continue
        day = to_local(lead.created_at).date()
        running = [c for c in DEMO_CAMPAIGNS if c.channel == lead.channel and c.runs_in(day)]
        if not running:  # a mailing's late replies: no campaign runs now
            continue
        touch = rng.choices(running, [c.weight for c in running])[0].touch(day)
        lead.last_touch = touch
        # Some first came through brand search, then came back through the campaign.
        lead.first_touch = (
            brand_search.touch(day) if lead.channel == "website" and rng.random() < 0.3 else touch
        )
    session.flush()


def _year_to(now: datetime) -> list[date]:
    local = to_local(now)
    month = date(local.year - 1, local.month, 1)
    months = []
    for _ in range(12):
        month = next_month(month)
        months.append(month)
    return months


def _spend(
    counts: Counter[tuple[date, str, str, int | None]], months: list[date], rng: random.Random
) -> dict[tuple[date, str, str, int | None], Decimal]:
    """What each campaign cost per month: its leads at the channel's cost per lead (with some
    months dearer than others), or in months without demo leads its average month's."""
    spend: dict[tuple[date, str, str, int | None], Decimal] = {}
    with_leads = {key[0] for key in counts}
    per_campaign: dict[tuple[str, str, int | None], list[int]] = defaultdict(list)
    for (month, channel, campaign, payer), n in counts.items():
        if month in months:
            per_campaign[(channel, campaign, payer)].append(n)
    for (channel, campaign, payer), numbers in per_campaign.items():
        cost = COST_PER_LEAD.get(channel)
        if cost is None or (not campaign and channel != "phone"):
            continue  # walk-ins and referrals cost nothing; direct leads no campaign
        running = _runs(channel, campaign)
        average = sum(numbers) / max(1, len([m for m in months if m in with_leads]))
        for month in months:
            if running is not None and month.month not in running:
                continue
            leads = counts.get((month, channel, campaign, payer), 0)
            if month not in with_leads:
                leads = round(average * rng.uniform(0.8, 1.2))
            if not leads:
                continue
            amount = leads * cost * rng.uniform(0.75, 1.3)
            spend[(month, channel, campaign, payer)] = Decimal(round(amount, -1)).quantize(
                Decimal("0.01")
            )
    for month in months:  # call tracking, whatever the phone brought
        spend[(month, "phone", "", None)] = spend.get((month, "phone", "", None), Decimal(0)) + (
            Decimal(PHONE_TRACKING)
        )
    return spend


def _runs(channel: str, campaign: str) -> tuple[int, ...] | None:
    """The months a campaign runs (None: all year or not a demo campaign); a seasonal one's name
    carries its year."""
    for found in DEMO_CAMPAIGNS:
        if found.channel == channel and _named(found, campaign):
            return found.months or None
    return None


def _named(campaign: DemoCampaign, name: str) -> bool:
    if "{year}" not in campaign.name:
        return campaign.name == name
    prefix = campaign.name.replace("{year}", "")
    return name.startswith(prefix) and name[len(prefix) :].isdigit()


def _margins(session: Session, now: datetime) -> None:
    session.add(SaleMargin(dealer_id=None, amount=NETWORK_MARGIN, updated_at=now))
    for dealer in session.scalars(select(Dealer).where(Dealer.country == "BE")):
        session.add(SaleMargin(dealer_id=dealer.id, amount=BELGIAN_MARGIN, updated_at=now))
