"""The dealer network: dealers (showroom locations) and the staff who work at each."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, JsonType, UtcDateTime, utcnow

# The dealer an existing installation upgrades to (migration 0011), holding its staff and leads.
DEFAULT_DEALER_CODE = "MAIN"


class Dealer(Base):
    """A dealer location. Its leads, notes and appointments are seen by its own staff only."""

    __tablename__ = "dealer"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300), default=None)
    postal_code: Mapped[str | None] = mapped_column(String(20), default=None)
    city: Mapped[str | None] = mapped_column(String(100), default=None)
    country: Mapped[str] = mapped_column(String(2), default="NL")  # ISO 3166-1 alpha-2
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    # None: the installation's showroom time zone (cdp/local_time.py).
    time_zone: Mapped[str | None] = mapped_column(String(64), default=None)
    opening_hours: Mapped[str | None] = mapped_column(Text, default=None)
    # The postal-code areas it serves: prefixes such as "5611" or "1000".
    postal_areas: Mapped[list[str]] = mapped_column(JsonType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Speed to lead (docs/dealers.md): first contact within this many opening-hours minutes of
    # a lead coming in; the manager is warned after the second figure.
    sla_first_contact_minutes: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    sla_warning_minutes: Mapped[int] = mapped_column(Integer, default=15, server_default="15")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Where new leads are POSTed as ADF (the dealer's own CRM), and since when: leads older than
    # that were never meant for it (docs/adf.md).
    adf_url: Mapped[str | None] = mapped_column(String(500), default=None)
    adf_since: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class StaffDealer(Base):
    """A staff member works at this dealer. Staff without any row work for the whole network
    (the importer's marketing, managers and admins)."""

    __tablename__ = "staff_dealer"

    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), primary_key=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealer.id"), primary_key=True, index=True)
