"""The customer profile and everything identity resolution attaches to it."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, BigIntPK, JsonType, UtcDateTime, utcnow

IDENTITY_KINDS = ("user_id", "email", "phone", "anonymous_id", "config_code")


class Profile(Base):
    __tablename__ = "profile"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Set when this profile was absorbed by a merge: its id keeps resolving to the survivor.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("profile.id"), default=None, index=True
    )
    merged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class Identity(Base):
    """One identifier (normalised) and the live profile it belongs to."""

    __tablename__ = "identity"
    # value first, so a lookup by a list of values uses the index.
    __table_args__ = (UniqueConstraint("value", "kind"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(400))
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"), index=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id"), default=None)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ProfileTrait(Base):
    """Latest value of a trait by event time, and the first value ever seen."""

    __tablename__ = "profile_trait"

    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JsonType)
    value_at: Mapped[datetime] = mapped_column(UtcDateTime)
    first_value: Mapped[Any] = mapped_column(JsonType)
    first_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Lower-case, accent-free text of a string value, for lookups by name or postal code.
    search_text: Mapped[str | None] = mapped_column(String(200), default=None, index=True)


class ProfileMerge(Base):
    __tablename__ = "profile_merge"

    id: Mapped[int] = mapped_column(primary_key=True)
    survivor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"), index=True)
    absorbed_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"), index=True)
    merged_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(Text)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id"), default=None)
    message_id: Mapped[str | None] = mapped_column(String(200), default=None)
    # What a split needs (docs/identity.md, undoing a merge), recorded since migration 0013:
    # the moved rows are in profile_merge_row; the traits of both profiles as they were before.
    rows_recorded: Mapped[bool] = mapped_column(Boolean, default=False)
    traits_before: Mapped[Any] = mapped_column(JsonType, default=None, nullable=True)
    # Set when staff undid the merge: the two profiles are two people again.
    split_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    split_by: Mapped[str | None] = mapped_column(String(320), default=None)
    split_reason: Mapped[str | None] = mapped_column(Text, default=None)


class ProfileMergeRow(Base):
    """One row a merge moved from the absorbed profile to the survivor: a split moves it back."""

    __tablename__ = "profile_merge_row"

    merge_id: Mapped[int] = mapped_column(ForeignKey("profile_merge.id"), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(40), primary_key=True)
    row_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class IdentityWarning(Base):
    """Something identity resolution refused to do: a placeholder id, a userId conflict, ..."""

    __tablename__ = "identity_warning"
    __table_args__ = (
        Index("ix_identity_warning_profile_id", "profile_id"),
        Index("ix_identity_warning_other_profile_id", "other_profile_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    detail: Mapped[str] = mapped_column(Text)
    profile_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("profile.id"), default=None)
    other_profile_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("profile.id"), default=None
    )
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id"), default=None)
    message_id: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Consent(Base):
    """One consent statement; the latest per (profile, purpose, address) by stated_at is in
    force (docs/export.md: who may be e-mailed)."""

    __tablename__ = "consent"
    __table_args__ = (Index("ix_consent_profile_purpose", "profile_id", "purpose", "stated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profile.id"))
    purpose: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    stated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    wording: Mapped[str | None] = mapped_column(Text, default=None)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id"), default=None)
    message_id: Mapped[str | None] = mapped_column(String(200), default=None)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # The e-mail address (purpose email) or phone number (phone), normalised, the statement was
    # made for: a grant covers that address only; a withdrawal without one covers them all.
    address: Mapped[str | None] = mapped_column(String(400), default=None)
    # Set when a member of staff recorded the statement (the customer page, migration 0022): who,
    # why ("customer asked by phone"), how it came in ("staff page") and the dealer they work at.
    # Statements from a source leave these empty: the source says where they came from.
    recorded_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id"), default=None
    )
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    recorded_via: Mapped[str | None] = mapped_column(String(40), default=None)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealer.id"), default=None)


CONSENT_PURPOSES = ("tracking", "email", "phone")
CONSENT_STATUSES = ("granted", "withdrawn")
