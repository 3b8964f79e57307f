"""The showroom floor's traffic log: every arrival reception checks in, who took it, how long."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, UtcDateTime, utcnow

# appointment: a planned visit or test drive arrived; walk_in: someone new (or new to the
# floor) without an appointment; be_back: a known customer back without an appointment.
VISIT_KINDS = ("appointment", "walk_in", "be_back")
VISIT_OUTCOMES = ("follow_up", "test_drive", "quote", "sold", "just_looking", "other")


class ShowroomVisit(Base):
    """One customer's time on the floor of one dealer, from arrival until someone ends it."""

    __tablename__ = "showroom_visit"
    __table_args__ = (
        Index("ix_showroom_visit_dealer_arrived", "dealer_id", "arrived_at"),
        Index(
            "ix_showroom_visit_salesperson_started",
            "salesperson_user_id",
            "started_with_salesperson_at",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealer.id"))
    # None: an anonymous walk-in, until reception or the salesperson finds who it is.
    profile_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("profile.id"), default=None, index=True
    )
    # What a walk-in said their name was, before (or without) a customer profile.
    visitor_name: Mapped[str | None] = mapped_column(String(200), default=None)
    # Unique: an appointment arrives once.
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointment.id"), default=None, unique=True
    )
    # The lead the visit was for, or the walk-in lead made from it.
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("lead.id"), default=None, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    salesperson_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id"), default=None
    )
    checked_in_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id"), default=None
    )
    arrived_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # When the salesperson took the customer over (the rotation orders by it).
    started_with_salesperson_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None, index=True)
    ended_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), default=None)
    outcome: Mapped[str | None] = mapped_column(String(20), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
