"""The importer's own words and targets for each lead channel: its name as pages show it, and
the norm per funnel step (the share of the channel's leads expected to get that far)."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, UtcDateTime, utcnow


class ChannelSetting(Base):
    """A channel's name as the importer calls it (None: the built-in label), and whether lead
    forms still offer it. Channels themselves are fixed (LEAD_CHANNELS): leads refer to them."""

    __tablename__ = "channel_setting"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    label: Mapped[str | None] = mapped_column(String(60), default=None)
    offered: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id"), default=None
    )


class StageNorm(Base):
    """One stored norm: the share of a channel's valid leads expected to reach `step` (a
    funnel step of cdp.leads.norms.NORM_STEPS). A stored row overrides the built-in default;
    a row with share None says "no norm" where the default had one."""

    __tablename__ = "stage_norm"

    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    step: Mapped[str] = mapped_column(String(20), primary_key=True)
    share: Mapped[Decimal | None] = mapped_column(Numeric(5, 4), default=None)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id"), default=None
    )
