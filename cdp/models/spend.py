"""What marketing costs: spend per month, channel and campaign (the network's or a dealer's
own), and the margin a sale earns, which together give cost per lead and return on spend
(cdp/spend/, docs/spend.md)."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, UtcDateTime, utcnow


class SpendEntry(Base):
    """Money spent in one month on one channel (LEAD_CHANNELS), on one campaign (the utm
    campaign name leads carry, lower case) or on the channel as a whole (campaign ""). Spent by
    the importer for the network (dealer_id None) or by a dealer itself."""

    __tablename__ = "spend_entry"
    # One row per month, channel, campaign and dealer. A network row has dealer_id NULL, which a
    # unique constraint lets repeat: the service looks before it adds (cdp/spend/service.py).
    __table_args__ = (UniqueConstraint("month", "channel", "campaign", "dealer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date, index=True)  # the first day of the month
    channel: Mapped[str] = mapped_column(String(20))
    campaign: Mapped[str] = mapped_column(String(200), default="")
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealer.id"), default=None, index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))  # euros
    note: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id"), default=None
    )


class SaleMargin(Base):
    """The margin one sale earns, in euros: the network's default (dealer_id None, one row,
    kept so by the service) or a dealer's own, which replaces it for that dealer's sales."""

    __tablename__ = "sale_margin"

    id: Mapped[int] = mapped_column(primary_key=True)
    dealer_id: Mapped[int | None] = mapped_column(
        ForeignKey("dealer.id"), default=None, unique=True
    )
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id"), default=None
    )
