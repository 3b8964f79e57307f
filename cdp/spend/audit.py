"""Spend and margin changes in the audit trail (action "spend"): who entered, changed, deleted
or imported which spend, and who set a margin, in words fit for the trail (amounts, months,
channels, campaigns and dealer codes: no personal data)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from cdp.audit.service import record
from cdp.models import Dealer, SpendEntry
from cdp.spend.amounts import euros
from cdp.spend.periods import month_label

AUDIT_ACTION = "spend"


def _dealer(session: Session, dealer_id: int | None) -> str:
    if dealer_id is None:
        return "the network"
    dealer = session.get(Dealer, dealer_id)
    return f"dealer {dealer.code}" if dealer is not None else f"dealer #{dealer_id}"


def describe(session: Session, entry: SpendEntry) -> str:
    """One entry: "March 2026, marketplace, campaign spring, dealer BD-1: € 1.234,56"."""
    campaign = f", campaign {entry.campaign}" if entry.campaign else ""
    where = _dealer(session, entry.dealer_id)
    return f"{month_label(entry.month)}, {entry.channel}{campaign}, {where}: {euros(entry.amount)}"


def note_spend(session: Session, what: str, detail: str, *, actor: str, by: int | None) -> None:
    """`what`: "added", "changed", "deleted", "imported"."""
    record(session, AUDIT_ACTION, actor=actor, staff_user_id=by, detail=f"spend {what}: {detail}")


def note_margin(
    session: Session,
    dealer_id: int | None,
    before: Decimal | None,
    after: Decimal | None,
    *,
    actor: str,
    by: int | None,
) -> None:
    whose = _dealer(session, dealer_id)
    change = "removed" if after is None else f"{euros(before)} → {euros(after)}"
    record(
        session, AUDIT_ACTION, actor=actor, staff_user_id=by, detail=f"margin of {whose}: {change}"
    )
