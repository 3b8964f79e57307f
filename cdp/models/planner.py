"""Sales plans (docs/planner.md): a quarter's sales target for one dealer or the network, the
channel mix it was planned with, and per month and channel the leads and sales it needs."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, Numeric, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, JsonType, UtcDateTime, utcnow


class SalesPlan(Base):
    """One saved plan. dealer_id None: the network's plan (the importer's)."""

    __tablename__ = "sales_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealer.id"), default=None, index=True)
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int] = mapped_column(SmallInteger)
    # Whose holidays shape the months: NL or BE.
    country: Mapped[str] = mapped_column(String(2))
    # "norm": the importer's lead-to-sale norms; "observed": the last 12 months' conversions.
    basis: Mapped[str] = mapped_column(String(10))
    target_new: Mapped[int] = mapped_column(Integer)
    target_used: Mapped[int] = mapped_column(Integer)
    # channel -> share of sales in percent, as planned.
    mix: Mapped[dict[str, float]] = mapped_column(JsonType, default=dict)
    # channel -> lead-to-sale rate the plan used; "seasonality": how the months were weighed.
    rates: Mapped[dict[str, float]] = mapped_column(JsonType, default=dict)
    seasonality: Mapped[str] = mapped_column(String(20))
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SalesPlanLine(Base):
    """One month and channel of a plan: the leads it must bring and the sales they make."""

    __tablename__ = "sales_plan_line"

    plan_id: Mapped[int] = mapped_column(ForeignKey("sales_plan.id"), primary_key=True)
    month: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # 1-12
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    leads: Mapped[int] = mapped_column(Integer)
    sales: Mapped[Decimal] = mapped_column(Numeric(10, 2))
