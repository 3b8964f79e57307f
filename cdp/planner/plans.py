"""Saved plans: stored, listed, opened and deleted, each seen only by whom it concerns: a
dealer's plan by the staff of that dealer (and the importer's), the network's by the importer's
staff only."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from cdp.audit.service import record
from cdp.dealers.visibility import DealerScope
from cdp.models import Dealer, SalesPlan, SalesPlanLine, StaffUser, utcnow
from cdp.planner.reverse import Reverse

PAGE_SIZE = 25
AUDIT_ACTION = "plan"


def sees_plan(scope: DealerScope, dealer_id: int | None) -> bool:
    """DealerScope.sees(None) is true only for the network: its plan is the importer's."""
    return scope.sees(dealer_id)


def _audit(session: Session, what: str, plan: SalesPlan, *, actor: str, by: int) -> None:
    """A plan saved or deleted, in the audit trail (its name, owner, quarter and targets)."""
    dealer = session.get(Dealer, plan.dealer_id) if plan.dealer_id is not None else None
    whose = f"dealer {dealer.code}" if dealer is not None else "the network"
    record(
        session,
        AUDIT_ACTION,
        actor=actor,
        staff_user_id=by,
        detail=f"plan {what}: \u201c{plan.name}\u201d for {whose}, Q{plan.quarter} {plan.year}, "
        f"{plan.target_new} new and {plan.target_used} used",
    )


def save(
    session: Session,
    plan: Reverse,
    *,
    name: str,
    dealer_id: int | None,
    by_user_id: int,
    actor: str,
) -> SalesPlan:
    target = plan.target
    row = SalesPlan(
        name=name,
        dealer_id=dealer_id,
        year=target.year,
        quarter=target.quarter,
        country=target.country,
        basis=target.basis,
        target_new=target.new,
        target_used=target.used,
        mix={c: s for c, s in target.mix.items() if s > 0},
        rates={need.channel: round(need.rate, 4) for need in plan.channels},
        seasonality=plan.spread.source,
        created_by_user_id=by_user_id,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    for need in plan.channels:
        for index, month in enumerate(plan.spread.months):
            session.add(
                SalesPlanLine(
                    plan_id=row.id,
                    month=month,
                    channel=need.channel,
                    leads=need.leads_by_month[index],
                    sales=Decimal(str(round(need.sales_by_month[index], 2))),
                )
            )
    _audit(session, "saved", row, actor=actor, by=by_user_id)
    session.flush()
    return row


@dataclass(frozen=True)
class PlanRow:
    plan: SalesPlan
    dealer: str | None  # "Name (CODE)"; None: the network
    author: str | None
    leads: int


def _visible(scope: DealerScope) -> tuple[ColumnElement[bool], ...]:
    if scope.network:
        return ()
    return (SalesPlan.dealer_id.in_(sorted(scope.dealer_ids or ())),)


def count(session: Session, scope: DealerScope) -> int:
    return session.scalar(select(func.count()).select_from(SalesPlan).where(*_visible(scope))) or 0


def listing(session: Session, scope: DealerScope, *, page: int) -> list[PlanRow]:
    """The plans the scope sees, newest quarter first, PAGE_SIZE a page (page 1 the first)."""
    leads = (
        select(func.coalesce(func.sum(SalesPlanLine.leads), 0))
        .where(SalesPlanLine.plan_id == SalesPlan.id)
        .correlate(SalesPlan)
        .scalar_subquery()
    )
    rows = session.execute(
        select(SalesPlan, Dealer.name, Dealer.code, StaffUser.name, StaffUser.email, leads)
        .outerjoin(Dealer, Dealer.id == SalesPlan.dealer_id)
        .outerjoin(StaffUser, StaffUser.id == SalesPlan.created_by_user_id)
        .where(*_visible(scope))
        .order_by(SalesPlan.year.desc(), SalesPlan.quarter.desc(), SalesPlan.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return [
        PlanRow(
            plan=plan,
            dealer=f"{dealer_name} ({code})" if code else None,
            author=author or email,
            leads=int(total),
        )
        for plan, dealer_name, code, author, email, total in rows
    ]


def get(session: Session, plan_id: int, scope: DealerScope) -> SalesPlan | None:
    plan = session.get(SalesPlan, plan_id)
    if plan is None or not sees_plan(scope, plan.dealer_id):
        return None
    return plan


def lines(session: Session, plan_id: int) -> list[SalesPlanLine]:
    return list(
        session.scalars(
            select(SalesPlanLine)
            .where(SalesPlanLine.plan_id == plan_id)
            .order_by(SalesPlanLine.month, SalesPlanLine.channel)
        )
    )


def remove(session: Session, plan: SalesPlan, *, actor: str, by_user_id: int) -> None:
    _audit(session, "deleted", plan, actor=actor, by=by_user_id)
    session.execute(delete(SalesPlanLine).where(SalesPlanLine.plan_id == plan.id))
    session.delete(plan)
    session.flush()
