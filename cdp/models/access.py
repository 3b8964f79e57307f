"""Who may send events (sources with write keys) and who may read (API tokens)."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, JsonType, UtcDateTime, utcnow

SOURCE_KINDS = ("web", "dealer_web", "showroom", "importer", "marketplace")
# The lead channel of what each kind of source sends: a marketplace's or importer's source
# declares its channel, so its leads arrive with it.
SOURCE_CHANNELS = {
    "web": "website",
    "dealer_web": "dealer_website",
    "showroom": "walk_in",
    "importer": "importer",
    "marketplace": "marketplace",
}
# Where an event happened, as events, sessions and configurations record it: a dealer's own
# website is a website to identity rules, segments and the customer page (only its leads differ).
EVENT_CHANNELS = {"dealer_web": "web"}


def event_channel(kind: str) -> str:
    """The channel stored with what a source of this kind sends."""
    return EVENT_CHANNELS.get(kind, kind)


ROLES = ("sales", "reception", "delivery", "marketing", "manager", "admin")


class Source(Base):
    __tablename__ = "source"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    write_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    origins: Mapped[list[str]] = mapped_column(JsonType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # None: the whole network (an importer's app); else one dealer's data only.
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealer.id"), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
