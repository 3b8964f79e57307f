"""Alerts: what a staff member is told as it happens (a lead of theirs, their customer back on
the configurator, a test drive, a check-in, an SLA warning), kept until they read it."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, BigIntPK, UtcDateTime, utcnow

ALERT_KINDS = (
    "lead_assigned",  # a lead was given to them
    "customer_back",  # their customer is on the configurator again
    "test_drive",  # a test drive was booked for their customer
    "checked_in",  # their appointment arrived at reception
    "sla_warning",  # a manager: a lead of their dealer is close to its first-contact deadline
)


class Alert(Base):
    """One alert for one staff member. The customer's name is not copied here: it is read from
    the profile when shown, so an erased person leaves no name behind (erasure deletes their
    alerts; profile, lead and appointment carry no foreign key, so nothing else has to)."""

    __tablename__ = "alert"
    __table_args__ = (
        # The tray: a person's unread alerts, newest first; the stream: theirs after an id.
        Index("ix_alert_user_read_id", "user_id", "read_at", "id"),
        # The rate limit of `customer_back`: the latest such alert per person and customer.
        Index("ix_alert_profile_user_kind", "profile_id", "user_id", "kind"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealer.id"), default=None)
    kind: Mapped[str] = mapped_column(String(20))
    profile_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    lead_id: Mapped[int | None] = mapped_column(Integer, default=None)
    appointment_id: Mapped[int | None] = mapped_column(Integer, default=None)
    text: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
