"""Staff accounts, their sign-in sessions, failed sign-ins, and who looked at which customer."""

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, BigIntPK, UtcDateTime, utcnow

AVAILABILITIES = ("available", "busy", "off")


class StaffUser(Base):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # What a salesperson says of themselves (available, busy, off): routing gives new leads
    # only to those available (cdp/leads/routing.py).
    availability: Mapped[str] = mapped_column(
        String(10), default="available", server_default="available"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # An invitation: the invitee sets a password through a one-time link.
    invite_token_hash: Mapped[str | None] = mapped_column(String(64), default=None, unique=True)
    invite_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class StaffSession(Base):
    """A signed-in browser. The cookie holds a random token; only its digest is stored."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class LoginAttempt(Base):
    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_email_at", "email", "attempted_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))
    ip: Mapped[str | None] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ProfileView(Base):
    """Accountability: every time staff (or a staff app's token) opened a customer."""

    __tablename__ = "profile_view"
    __table_args__ = (Index("ix_profile_view_profile_at", "profile_id", "viewed_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), default=None)
    api_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_token.id"), default=None)
    viewed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    via: Mapped[str] = mapped_column(String(20))  # page | api
