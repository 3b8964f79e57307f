"""Records kept about data-protection requests themselves."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, JsonType, UtcDateTime, utcnow


class Erasure(Base):
    """A person erased on request (GDPR art. 17): when, by whom, why, and how many rows went.

    No personal data: the profile id is a random identifier that, with everything else gone,
    links to nobody; it lets an old link to the customer page say what happened.
    """

    __tablename__ = "erasure"

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)  # no foreign key: it is gone
    erased_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    erased_by: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text)
    counts: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class SecretKey(Base):
    """A key of this installation for keyed hashes (HMAC-SHA256): generated at first start,
    never logged or exported. Rotating adds a version; older versions stay while suppression
    entries made with them remain, so those still match (cdp.secret_keys)."""

    __tablename__ = "secret_key"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    secret: Mapped[str] = mapped_column(String(64))  # 32 random bytes, hex
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    def __repr__(self) -> str:  # never the secret, whoever prints the row
        return f"SecretKey(version={self.version})"


class Suppression(Base):
    """One identifier of an erased person, as a keyed hash (no plain value): messages carrying it
    are dropped (cdp.profiles.suppression). Lifted when the person comes back and agrees again;
    the lift says when, by what and why, with no personal data."""

    __tablename__ = "suppression"

    id: Mapped[int] = mapped_column(primary_key=True)
    erasure_id: Mapped[int] = mapped_column(ForeignKey("erasure.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # email | phone | user_id | anonymous_id
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    key_version: Mapped[int] = mapped_column(ForeignKey("secret_key.version"), index=True)
    erased_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    lifted_by: Mapped[str | None] = mapped_column(String(320), default=None)
    lift_reason: Mapped[str | None] = mapped_column(Text, default=None)


class SuppressedCount(Base):
    """How many messages of a source were dropped on a day because they carried an identifier
    of an erased person: the only thing kept of them."""

    __tablename__ = "suppressed_count"

    source_id: Mapped[int] = mapped_column(ForeignKey("source.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)
