"""Every query of spend: entries and margins, and the two aggregates the return is made of
(leads per month, channel and campaign; spend per month, channel and campaign), each one
GROUP BY in the database, so the page costs the same at 500,000 leads as at 500."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.orm import Session

from cdp.dealers.visibility import DealerScope
from cdp.leads.progress import STEPS
from cdp.models import Dealer, Lead, SaleMargin, SpendEntry

SOLD_STEP = len(STEPS)  # a lead's furthest_step once it was ever sold (or delivered)
NOT_LEADS = ("invalid", "duplicate")
# The touch a lead's campaign is read from (cdp/leads/attribution.py): its key "name" is the
# utm campaign name.
TOUCHES = {"last": Lead.last_touch, "first": Lead.first_touch}


# --- entries ---------------------------------------------------------------------------------
def entry_with_key(
    session: Session, *, month: date, channel: str, campaign: str, dealer_id: int | None
) -> SpendEntry | None:
    dealer = (
        SpendEntry.dealer_id.is_(None) if dealer_id is None else SpendEntry.dealer_id == dealer_id
    )
    return session.scalars(
        select(SpendEntry).where(
            SpendEntry.month == month,
            SpendEntry.channel == channel,
            SpendEntry.campaign == campaign,
            dealer,
        )
    ).first()


def entries(
    session: Session, *, scope: DealerScope, since: date, until: date, offset: int, limit: int
) -> tuple[list[SpendEntry], int]:
    """One page of the entries in scope from month `since` up to (not including) `until`,
    newest month first, and how many there are in all."""
    where = (SpendEntry.month >= since, SpendEntry.month < until, scope.where(SpendEntry.dealer_id))
    total = session.scalar(select(func.count()).select_from(SpendEntry).where(*where)) or 0
    rows = session.scalars(
        select(SpendEntry)
        .where(*where)
        .order_by(
            SpendEntry.month.desc(),
            SpendEntry.channel,
            SpendEntry.campaign,
            SpendEntry.dealer_id.is_not(None),
            SpendEntry.dealer_id,
            SpendEntry.id,
        )
        .offset(offset)
        .limit(limit)
    )
    return list(rows), total


def dealer_codes(session: Session) -> dict[int, str]:
    return {dealer_id: code for dealer_id, code in session.execute(select(Dealer.id, Dealer.code))}


# --- margins ---------------------------------------------------------------------------------
def margin_rows(session: Session) -> list[SaleMargin]:
    """The network's row (dealer_id None) first, then the dealers' own."""
    return list(
        session.scalars(
            select(SaleMargin).order_by(SaleMargin.dealer_id.is_not(None), SaleMargin.dealer_id)
        )
    )


def margin_of(session: Session, dealer_id: int | None) -> SaleMargin | None:
    dealer = (
        SaleMargin.dealer_id.is_(None) if dealer_id is None else SaleMargin.dealer_id == dealer_id
    )
    return session.scalars(select(SaleMargin).where(dealer).order_by(SaleMargin.id)).first()


# --- the return's aggregates -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LeadCounts:
    month: int  # index into the period's months
    channel: str
    campaign: str
    leads: int
    valid: int
    sales: int
    earned: Decimal  # the margins of those sales
    unpriced: int  # sales at a dealer without a margin, and no network margin either


def lead_counts(
    session: Session,
    *,
    months: list[tuple[date, datetime, datetime]],
    scope: DealerScope,
    touch: str,
    network_margin: Decimal | None,
) -> list[LeadCounts]:
    """Leads created in each month (the cohort), per channel and campaign, counted at the
    furthest step they reached: a sale is a valid lead now sold or delivered, or one whose
    history holds a sale (sold, then lost), which is what the lead's kept progress says
    (`furthest_step` at sold: cdp/leads/progress.py). The month is a CASE over the month
    bounds, the campaign the touch's JSON "name" (lower case, "" without one), the margin the
    dealer's own or else the network's. One GROUP BY over the period's leads, no look-up into
    the stage history."""
    bucket = case(*((Lead.created_at < end, index) for index, (_m, _s, end) in enumerate(months)))
    campaign = func.lower(func.coalesce(TOUCHES[touch]["name"].as_string(), ""))
    keys = (bucket.label("month"), Lead.channel.label("channel"), campaign.label("campaign"))
    valid = Lead.stage.not_in(NOT_LEADS)
    sold = and_(valid, Lead.furthest_step == SOLD_STEP)
    margin = func.coalesce(SaleMargin.amount, literal(network_margin, SaleMargin.amount.type))
    rows = session.execute(
        select(
            *keys,
            func.count().label("leads"),
            func.sum(case((valid, 1), else_=0)).label("valid"),
            func.sum(case((sold, 1), else_=0)).label("sales"),
            func.sum(case((sold, margin), else_=0)).label("earned"),
            func.sum(case((and_(sold, margin.is_(None)), 1), else_=0)).label("unpriced"),
        )
        .select_from(Lead)
        .outerjoin(SaleMargin, SaleMargin.dealer_id == Lead.dealer_id)
        .where(
            Lead.created_at >= months[0][1],
            Lead.created_at < months[-1][2],
            scope.where(Lead.dealer_id),
        )
        .group_by(*keys)
    )
    return [
        LeadCounts(
            month=int(row.month),
            channel=row.channel,
            campaign=row.campaign,
            leads=int(row.leads),
            valid=int(row.valid or 0),
            sales=int(row.sales or 0),
            earned=_cents(row.earned),
            unpriced=int(row.unpriced or 0),
        )
        for row in rows
    ]


def _cents(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def spend_totals(
    session: Session, *, first: date, last: date, scope: DealerScope
) -> list[tuple[date, str, str, Decimal]]:
    """Spend per month, channel and campaign from month `first` to month `last`, in scope: the
    network view counts the importer's and every dealer's, a dealer's view its own."""
    rows = session.execute(
        select(
            SpendEntry.month, SpendEntry.channel, SpendEntry.campaign, func.sum(SpendEntry.amount)
        )
        .where(
            SpendEntry.month >= first, SpendEntry.month <= last, scope.where(SpendEntry.dealer_id)
        )
        .group_by(SpendEntry.month, SpendEntry.channel, SpendEntry.campaign)
    )
    return [(month, channel, campaign, _cents(total)) for month, channel, campaign, total in rows]
